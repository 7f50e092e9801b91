"""One cgroup per instance: memory limit, process-count limit, OOM detection, kill-all.

:func:`detect_cgroups` finds, once at start-up, where this service may create cgroups:

* **v2** (unified, ``/sys/fs/cgroup/cgroup.controllers``): a ``hybridjobs`` child of the
  service's own cgroup with the ``memory`` and ``pids`` controllers enabled for its
  children (the host must delegate that subtree, e.g. systemd ``Delegate=yes``);
* **v1** (``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/pids`` hierarchies): a
  ``hybridjobs`` directory under the service's own cgroup of each hierarchy.

``None`` when neither is writable (the reason is logged by the caller). An
:class:`InstanceCgroup` is created before its instance starts; the instance's first
process joins it before it executes anything (:meth:`InstanceCgroup.join`, called in the
child), so every process it ever starts is counted, limited and killable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
GROUP_NAME = "hybridjobs"
V1_CONTROLLERS = ("memory", "pids")


def _own_path(controller: str) -> str:
    """This process's cgroup path in ``controller``'s hierarchy (``""``: the v2 one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path
    raise LookupError(controller)


@dataclass(frozen=True)
class CgroupRoot:
    """Where instance cgroups are made: ``version`` 1 or 2; ``dirs`` (one per v1
    hierarchy, or the one v2 directory)."""

    version: int
    dirs: tuple[Path, ...]

    def create(self, name: str, memory_bytes: int | None, pids_max: int | None) -> InstanceCgroup:
        """Make the instance's cgroup with its limits (``OSError`` if the kernel refuses)."""
        group = InstanceCgroup(self.version, tuple(d / name for d in self.dirs))
        group.remove()  # a leftover of a previous run with the same name
        for path in group.dirs:
            path.mkdir(exist_ok=True)
        group.set_limits(memory_bytes, pids_max)
        return group


@dataclass(frozen=True)
class InstanceCgroup:
    """One instance's cgroup (one directory per v1 hierarchy, or one v2 directory)."""

    version: int
    dirs: tuple[Path, ...]

    def to_state(self) -> list[str]:
        return [str(d) for d in self.dirs]

    @classmethod
    def from_state(cls, dirs: list[str]) -> InstanceCgroup:
        return cls(1 if len(dirs) > 1 else 2, tuple(Path(d) for d in dirs))

    def set_limits(self, memory_bytes: int | None, pids_max: int | None) -> None:
        """Limit memory (swap included, where the kernel accounts it) and processes
        (``None``: leave as it is)."""
        if self.version == 2:
            path = self.dirs[0]
            if memory_bytes is not None:
                (path / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0")
            if pids_max is not None:
                (path / "pids.max").write_text(str(pids_max))
            return
        memory, pids = self.dirs
        if memory_bytes is not None:
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # absent without swap accounting
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        if pids_max is not None:
            (pids / "pids.max").write_text(str(pids_max))

    def join(self) -> None:
        """Move the calling process into the cgroup (in the child, before ``exec``)."""
        pid = str(os.getpid())
        for path in self.dirs:
            with open(path / "cgroup.procs", "w") as procs:
                procs.write(pid)

    def pids(self) -> set[int]:
        """The processes in the cgroup now (``set()`` once it is gone)."""
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer killed in the cgroup (0 if unknown)."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.dirs[0] / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until it is empty (``cgroup.kill`` on v2
        where the kernel has it). A fork bomb cannot outrun this: ``pids.max`` bounds it."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)  # the kernel empties cgroup.procs as the processes die

    def remove(self) -> None:
        """Remove the cgroup's directories (once its processes are gone; best effort)."""
        for path in self.dirs:
            with contextlib.suppress(OSError):
                path.rmdir()


def detect_cgroups() -> tuple[CgroupRoot | None, str]:
    """Where instance cgroups can be made, and a sentence saying so (or why not)."""
    problems: list[str] = []
    if (CGROUP_FS / "cgroup.controllers").exists():
        try:
            return _v2_root(), "cgroup v2"
        except (OSError, LookupError) as exc:
            problems.append(f"cgroup v2: {exc}")
    elif all((CGROUP_FS / c).is_dir() for c in V1_CONTROLLERS):
        try:
            return _v1_root(), "cgroup v1 (memory, pids)"
        except (OSError, LookupError) as exc:
            problems.append(f"cgroup v1: {exc}")
    else:
        problems.append("no cgroup v2 and no cgroup v1 memory and pids hierarchies")
    return None, "; ".join(problems)


def _probe(directory: Path) -> None:
    """Create (and remove) a child of ``directory``: ``OSError`` when not allowed."""
    directory.mkdir(exist_ok=True)
    probe = directory / f"probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    probe.rmdir()


def _v1_root() -> CgroupRoot:
    dirs = []
    for controller in V1_CONTROLLERS:
        mount = CGROUP_FS / controller
        own = mount / _own_path(controller).lstrip("/")
        parent = own if own.is_dir() else mount
        _probe(parent / GROUP_NAME)
        dirs.append(parent / GROUP_NAME)
    return CgroupRoot(1, tuple(dirs))


def _v2_root() -> CgroupRoot:
    own = CGROUP_FS / _own_path("").lstrip("/")
    group = own / GROUP_NAME
    _probe(group)
    (group / "cgroup.subtree_control").write_text("+memory +pids")
    return CgroupRoot(2, (group,))
