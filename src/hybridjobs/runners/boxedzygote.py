"""Sandboxed warm starts: one-shot zygotes, each in the sandbox of the instance it becomes.

A sandbox's mounts are fixed when it starts, and a zygote takes seconds to import the
Braket SDK, so a sandboxed zygote is started *before* its instance exists, inside a
sandbox whose ``/opt/ml`` is an empty **slot** directory (in the pool's directory, on the
data directory's file system). At spawn, :meth:`BoxedZygotes.install` moves the prepared
instance directory's contents into the slot and renames the slot to the instance
directory: a bind mount follows the directory, not its name, so the zygote's ``/opt/ml``
*is* the instance directory from then on. The instance's log file is made the same way: a
file opened for the zygote beforehand (its ``--log-fd``) is renamed to the instance's log.

Each such zygote forks exactly one instance (``--once``) in its own PID namespace; its
sandbox, process group and cgroup are the instance's, and end with it.

A sandbox's host name is fixed when it starts too, so every slot is made for one host
name: a pool of ``size`` sandboxed zygotes keeps one slot for each of ``algo-1`` …
``algo-<size>`` (:func:`slot_hosts`), and an instance forks only from a zygote whose slot
has its host, so every instance of a job of up to ``size`` instances can start warm.
Every slot has the SDK's default checkpoint directory ``/opt/jobs/checkpoints`` bound in
(checkpoint directories under ``/opt/ml`` or ``/opt/braket`` need no bind). Another
checkpoint directory outside ``/opt/ml`` lives, like the default one, in the instance
directory (``_root/<its path>``); for a warm start the zygote makes its path, in the
sandbox's own root, a symlink to that directory under ``/opt/ml`` (:meth:`BoxedZygotes.links`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.sandbox.box import CONTAINER_ROOT, REQUIREMENTS_CACHE, Bind, InstanceBox
from hybridjobs.sandbox.cgroups import InstanceCgroup
from hybridjobs.sandbox.select import Confinement

SLOT_CHECKPOINTS = "/opt/jobs/checkpoints"
"""The checkpoint directory the Braket SDK gives jobs (``checkpointConfig.localPath``)."""


def slot_hosts(size: int) -> list[str]:
    """The host names the slots of a pool of ``size`` sandboxed zygotes are made for."""
    return [f"algo-{number}" for number in range(1, size + 1)]


class SlotUnusable(Exception):
    """The instance cannot take this slot (it is left as it was: start the instance cold)."""


@dataclass
class Slot:
    """A sandboxed zygote's future instance directory, log file and cgroup, for ``host``."""

    host: str
    directory: Path
    log: Path
    log_fd: int
    cgroup: InstanceCgroup | None

    def close_log(self) -> None:
        """Close the pool's copy of the log descriptor (the zygote has its own)."""
        with contextlib.suppress(OSError):
            os.close(self.log_fd)

    def discard(self) -> None:
        """Remove what is left of an unused slot (its zygote has ended)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.log.unlink(missing_ok=True)
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()


class BoxedZygotes:
    """Makes the slots and sandbox command lines of a pool's zygotes (module docstring)."""

    def __init__(self, confinement: Confinement, slots_dir: Path, cache_dir: Path) -> None:
        self.confinement = confinement
        self.slots_dir = slots_dir
        self.cache_dir = cache_dir

    def new_slot(self, number: int, host: str) -> Slot:
        """An empty slot for an instance named ``host`` (``OSError`` when it cannot be made)."""
        directory = self.slots_dir / f"slot-{os.getpid()}-{number}"
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "_root" / SLOT_CHECKPOINTS.strip("/")).mkdir(parents=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        log = directory.with_suffix(".log")
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        cgroup = None
        if self.confinement.cgroups is not None:
            cgroup = self.confinement.cgroups.create(directory.name, None, None)
        return Slot(host, directory, log, log_fd, cgroup)

    def sweep(self) -> int:
        """Remove what services that are gone left of their slots: directories, logs and
        (empty) cgroups named ``slot-PID-N`` whose PID is not a live process, or is this
        one's (call before the pool starts). A slot that became an instance was renamed,
        and the cgroup of an instance still running is not empty: neither is touched.
        Returns how many slots were swept."""
        swept: set[str] = set()
        if self.slots_dir.is_dir():
            for entry in self.slots_dir.iterdir():
                name = entry.name.removesuffix(".log")
                if _left_behind(name):
                    swept.add(name)
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        root = self.confinement.cgroups
        if root is not None:
            names = {d.name for base in root.dirs if base.is_dir() for d in base.iterdir()}
            for name in sorted(n for n in names if _left_behind(n)):
                group = InstanceCgroup(root.version, tuple(base / name for base in root.dirs))
                group.remove()
                if not any(path.exists() for path in group.dirs):
                    swept.add(name)
        return len(swept)

    def _binds(self, slot_dir: Path) -> tuple[Bind, ...]:
        checkpoints = slot_dir / "_root" / SLOT_CHECKPOINTS.strip("/")
        return (Bind(checkpoints, SLOT_CHECKPOINTS), Bind(self.cache_dir, REQUIREMENTS_CACHE))

    def wrap(self, command: list[str], slot: Slot) -> list[str]:
        """The command that starts a zygote inside ``slot``'s sandbox."""
        box = InstanceBox(
            name=slot.directory.name,
            host=slot.host,
            instance_dir=slot.directory,
            binds=self._binds(slot.directory),
        )
        return self.confinement.sandbox.wrap(command, box)

    def accepts(self, box: InstanceBox) -> bool:
        """Whether an instance of ``box`` sees what a slot's sandbox shows (given a slot of
        its host name), its :meth:`links` made: the requirements cache, and directories
        of its own instance directory at ``_root/<container path>``."""
        for bind in box.binds:
            if bind.container == REQUIREMENTS_CACHE:
                if bind.host != self.cache_dir:
                    return False
            elif not bind.writable or bind.host != _in_root(box.instance_dir, bind.container):
                return False
        return True

    def links(self, box: InstanceBox) -> dict[str, str]:
        """The symlinks (container path -> its directory under ``/opt/ml``) the zygote
        makes in its sandbox's root for ``box``'s binds that a slot lacks."""
        return {
            bind.container: str(_in_root(Path(CONTAINER_ROOT), bind.container))
            for bind in box.binds
            if bind.container not in (REQUIREMENTS_CACHE, SLOT_CHECKPOINTS)
        }

    def install(self, slot: Slot, box: InstanceBox, log_path: Path) -> None:
        """Make ``slot`` the instance directory of ``box`` and its log file ``log_path``
        (see the module docstring); sets the instance's limits on the slot's cgroup.
        :class:`SlotUnusable` (nothing moved) when the slot is for another host, on another
        file system, or the log already has lines."""
        instance_dir = box.instance_dir
        if slot.host != box.host:
            raise SlotUnusable(f"the slot is for {slot.host}, not {box.host}")
        if os.stat(slot.directory).st_dev != os.stat(instance_dir).st_dev:
            raise SlotUnusable("the pool's slots are on another file system")
        if log_path.exists() and log_path.stat().st_size > 0:
            raise SlotUnusable("the instance's log already has lines")
        if slot.cgroup is not None:
            slot.cgroup.set_limits(box.memory_bytes, box.pids_max)
        _merge_into(instance_dir, slot.directory)
        instance_dir.rmdir()
        os.rename(slot.directory, instance_dir)
        os.rename(slot.log, log_path)


def _in_root(instance_dir: Path, container: str) -> Path:
    """Where a directory the container sees at ``container`` lives in ``instance_dir``."""
    return instance_dir / "_root" / container.strip("/")


def _left_behind(name: str) -> bool:
    """Whether ``name`` is a slot's (``slot-PID-N``) made by a process that is gone (or by
    a process of this pid before it: a slot is never this process's before its pool starts)."""
    parts = name.split("-")
    if len(parts) != 3 or parts[0] != "slot" or not (parts[1] + parts[2]).isdigit():
        return False
    pid = int(parts[1])
    return pid == os.getpid() or not Path(f"/proc/{pid}").exists()


def _merge_into(source: Path, target: Path) -> None:
    """Move every entry of ``source`` into ``target`` (directories present in both are
    merged), leaving ``source`` empty."""
    for entry in list(source.iterdir()):
        destination = target / entry.name
        if destination.is_dir() and entry.is_dir() and not entry.is_symlink():
            _merge_into(entry, destination)
            entry.rmdir()
        else:
            os.rename(entry, destination)
