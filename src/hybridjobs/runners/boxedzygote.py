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
sandbox, process group and cgroup are the instance's, and end with it. Slots are made for
``algo-1`` (the sandbox's host name) with the SDK's default checkpoint directory
``/opt/jobs/checkpoints`` bound in; an instance that needs anything else starts cold.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.sandbox.box import REQUIREMENTS_CACHE, Bind, InstanceBox
from hybridjobs.sandbox.cgroups import InstanceCgroup
from hybridjobs.sandbox.select import Confinement

SLOT_HOST = "algo-1"
SLOT_CHECKPOINTS = "/opt/jobs/checkpoints"
"""The checkpoint directory the Braket SDK gives jobs (``checkpointConfig.localPath``)."""


class SlotUnusable(Exception):
    """The instance cannot take this slot (it is left as it was: start the instance cold)."""


@dataclass
class Slot:
    """A sandboxed zygote's future instance directory, log file and cgroup."""

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

    def new_slot(self, number: int) -> Slot:
        """An empty slot (``OSError`` when it cannot be made)."""
        directory = self.slots_dir / f"slot-{os.getpid()}-{number}"
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "_root" / SLOT_CHECKPOINTS.strip("/")).mkdir(parents=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        log = directory.with_suffix(".log")
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        cgroup = None
        if self.confinement.cgroups is not None:
            cgroup = self.confinement.cgroups.create(directory.name, None, None)
        return Slot(directory, log, log_fd, cgroup)

    def _binds(self, slot_dir: Path) -> tuple[Bind, ...]:
        checkpoints = slot_dir / "_root" / SLOT_CHECKPOINTS.strip("/")
        return (Bind(checkpoints, SLOT_CHECKPOINTS), Bind(self.cache_dir, REQUIREMENTS_CACHE))

    def wrap(self, command: list[str], slot: Slot) -> list[str]:
        """The command that starts a zygote inside ``slot``'s sandbox."""
        box = InstanceBox(
            name=slot.directory.name,
            host=SLOT_HOST,
            instance_dir=slot.directory,
            binds=self._binds(slot.directory),
        )
        return self.confinement.sandbox.wrap(command, box)

    def accepts(self, box: InstanceBox) -> bool:
        """Whether an instance of ``box`` sees exactly what a slot's sandbox shows."""
        allowed = {
            SLOT_CHECKPOINTS: box.instance_dir / "_root" / SLOT_CHECKPOINTS.strip("/"),
            REQUIREMENTS_CACHE: self.cache_dir,
        }
        return box.host == SLOT_HOST and all(
            allowed.get(b.container) == b.host and b.writable for b in box.binds
        )

    def install(self, slot: Slot, box: InstanceBox, log_path: Path) -> None:
        """Make ``slot`` the instance directory of ``box`` and its log file ``log_path``
        (see the module docstring); sets the instance's limits on the slot's cgroup.
        :class:`SlotUnusable` (nothing moved) when the slot is on another file system or
        the log already has lines."""
        instance_dir = box.instance_dir
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
