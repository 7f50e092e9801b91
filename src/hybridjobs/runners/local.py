"""Local instances: each one a process in its own session (so its own process group).

A process we start is a process we can stop (design principle 5): stop is SIGTERM to the
whole group, a grace period, then SIGKILL to the group. Every handle records the pid and
the kernel's start time of the process, so a service that restarts can re-attach to a
still-running instance without mistaking a reused pid for it; an instance's exit code is
also written to a file by the bootstrap, so it survives the service.

Confined instances (:mod:`hybridjobs.sandbox`): the command runs inside the service's
sandbox (its process is then the sandbox's, whose namespace dies with the group's
SIGKILL), and in a cgroup of its own when the host delegates one: the child joins it
before it executes anything, so every process the instance starts is counted against its
memory and process limits and is killed by :meth:`InstanceHandle.kill_all`, ``setsid``
children included.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridjobs.runners.containerruntime import remove_container
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.sandbox.cgroups import InstanceCgroup
from hybridjobs.sandbox.select import Confinement

KILLED_EXIT_CODE = 137


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/PID/stat`` field 22),
    or ``None`` when no such process exists (or it is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass
class InstanceHandle:
    """One started instance: enough to poll, stop or re-attach to it."""

    host: str
    pid: int
    start_time: int
    exit_file: str
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    cgroup: InstanceCgroup | None = field(default=None, compare=False)
    """The instance's cgroup, when it runs in one."""
    container: tuple[str, str] | None = None
    """``(runtime, name)`` of the container the process runs the instance in (its client),
    when it runs as a real container (:mod:`hybridjobs.runners.containerlauncher`)."""

    def to_state(self) -> dict[str, Any]:
        """A JSON-able record (for ``Job.runner_state``)."""
        state: dict[str, Any] = {
            "host": self.host,
            "pid": self.pid,
            "start_time": self.start_time,
            "exit_file": self.exit_file,
        }
        if self.cgroup is not None:
            state["cgroup"] = self.cgroup.to_state()
        if self.container is not None:
            state["container"] = list(self.container)
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> InstanceHandle:
        cgroup = state.get("cgroup")
        container = state.get("container")
        return cls(
            host=str(state["host"]),
            pid=int(state["pid"]),
            start_time=int(state["start_time"]),
            exit_file=str(state["exit_file"]),
            cgroup=InstanceCgroup.from_state(list(cgroup)) if cgroup else None,
            container=(str(container[0]), str(container[1])) if container else None,
        )

    def kill_all(self) -> None:
        """SIGKILL the group and every process of the instance's cgroup (those that left
        the group with ``setsid`` too); a container is killed and removed by its runtime
        (its processes are the runtime's, not the client's group)."""
        self.signal_group(signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.container is not None:
            remove_container(*self.container)

    def oom_kills(self) -> int:
        """How many of the instance's processes the kernel killed for lack of memory."""
        return self.cgroup.oom_kills() if self.cgroup is not None else 0

    def release(self) -> None:
        """Remove the instance's cgroup and container (once the instance has ended; best
        effort)."""
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.container is not None:
            remove_container(*self.container)

    def is_alive(self) -> bool:
        """Whether the very process we started still runs."""
        if self.popen is not None:
            return self.popen.poll() is None
        return process_start_time(self.pid) == self.start_time

    def exit_code(self) -> int | None:
        """The exit code once the instance has ended; ``None`` while it runs.

        For a process we did not start ourselves (re-attached after a restart) the code
        comes from the exit file the bootstrap writes; a process that left no file was
        killed, which reads as 137.
        """
        if self.popen is not None:
            code = self.popen.poll()
            if code is None:
                return None
            return 128 - code if code < 0 else code
        if self.is_alive():
            return None
        try:
            return int(Path(self.exit_file).read_text().strip())
        except (OSError, ValueError):
            return KILLED_EXIT_CODE

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the instance's whole process group (members that outlived
        the leader included); a group that is gone is left alone.

        Linux never hands out a pid that is still some group's id, so while any member of
        the group lives, ``pid`` still names our group.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


def launch(
    host: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    exit_file: Path,
    *,
    die_with_parent: bool = False,
    box: InstanceBox | None = None,
    confinement: Confinement | None = None,
) -> InstanceHandle:
    """Start ``argv`` as a new session with stdout and stderr appended to ``log_path``.
    With ``die_with_parent`` the kernel kills it (SIGKILL) when the thread that started it
    dies: an instance agent that dies takes its instance along. With ``box`` and
    ``confinement``, ``argv`` runs inside the sandbox and the cgroup of ``box`` (see the
    module docstring); ``OSError`` when its cgroup cannot be made."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exit_file.unlink(missing_ok=True)
    cgroup: InstanceCgroup | None = None
    if box is not None and confinement is not None:
        argv = confinement.sandbox.wrap(argv, box, die_with_parent=die_with_parent)
        if confinement.cgroups is not None:
            cgroup = confinement.cgroups.create(box.name, box.memory_bytes, box.pids_max)
    with open(log_path, "ab", buffering=0) as log:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            preexec_fn=_child_setup(die_with_parent, cgroup),
        )
    start_time = process_start_time(popen.pid)
    return InstanceHandle(
        host=host,
        pid=popen.pid,
        start_time=start_time if start_time is not None else -1,
        exit_file=str(exit_file),
        popen=popen,
        cgroup=cgroup,
    )


def _child_setup(die_with_parent: bool, cgroup: InstanceCgroup | None) -> Callable[[], None] | None:
    """What the child does between fork and exec: join the cgroup, ask for death with
    its parent."""
    if not die_with_parent and cgroup is None:
        return None

    def setup() -> None:
        if cgroup is not None:
            cgroup.join()
        if die_with_parent:
            _die_with_parent()

    return setup


def _die_with_parent() -> None:
    """In the child, before exec: ask for SIGKILL when the parent thread dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def group_alive(handle: InstanceHandle) -> bool:
    """Whether any process of the instance's group is still alive."""
    try:
        os.killpg(handle.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_all(handles: Sequence[InstanceHandle], grace_seconds: float) -> None:
    """SIGTERM every instance's group, wait up to ``grace_seconds`` for the groups to
    empty, then SIGKILL what is left. Returns once every instance has ended."""
    for handle in handles:
        handle.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(
        h.exit_code() is None or group_alive(h) for h in handles
    ):
        time.sleep(0.05)
    for handle in handles:
        handle.kill_all()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(h.exit_code() is None for h in handles):
        time.sleep(0.02)


PACKAGE_PATH_DIR = "python-path"
"""The directory (under the data directory) that holds only ``hybridjobs``."""
_package_path: Path | None = None
_package_lock = threading.Lock()


def make_package_path(base: Path, package_dir: Path) -> Path:
    """Make ``base/python-path`` hold exactly one entry, a symlink ``hybridjobs ->
    package_dir`` (replaced atomically when it points elsewhere); return that directory.

    This, not the directory above the package, is what another interpreter (an image's
    environment) gets on ``PYTHONPATH`` to run the bootstrap: in a ``pip install`` the
    directory above is the service's whole site-packages, which would shadow the image
    environment's own packages."""
    directory = base / PACKAGE_PATH_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.name != "hybridjobs":
            _remove(entry)
    link = directory / "hybridjobs"
    if not (link.is_symlink() and os.readlink(link) == str(package_dir)):
        temporary = directory / f".hybridjobs-{os.getpid()}-{threading.get_ident()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(package_dir, target_is_directory=True)
        os.replace(temporary, link)
    return directory


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def use_package_path(data_dir: Path) -> Path:
    """Make (at start-up) and use this service's package path under ``data_dir``."""
    global _package_path
    import hybridjobs

    made = make_package_path(data_dir, Path(hybridjobs.__file__).resolve().parent)
    with _package_lock:
        _package_path = made
    return made


def package_path() -> Path:
    """The directory other interpreters find ``hybridjobs`` in, and nothing else (see
    :func:`make_package_path`): the data directory's, or, in a process that never called
    :func:`use_package_path` (an agent, a test), one in a private temporary directory."""
    global _package_path
    with _package_lock:
        if _package_path is None:
            import hybridjobs

            private = Path(tempfile.mkdtemp(prefix="hybridjobs-path-"))
            atexit.register(shutil.rmtree, private, True)
            package = Path(hybridjobs.__file__).resolve().parent
            _package_path = make_package_path(private, package)
        return _package_path


class ColdLauncher:
    """Starts each instance as a fresh ``python -m hybridjobs.bootstrap SPEC`` process.

    An interpreter other than the service's own (a BYOC image mapped to a virtualenv)
    gets :func:`package_path` (a directory holding only ``hybridjobs``) appended to
    ``PYTHONPATH`` so it can run the bootstrap, which needs only the standard library;
    in a sandbox, that directory is bound read-only.
    """

    def __init__(
        self,
        service_python: str,
        *,
        die_with_parent: bool = False,
        confinement: Confinement | None = None,
    ) -> None:
        self.service_python = service_python
        self.die_with_parent = die_with_parent
        self.confinement = confinement

    @property
    def isolates(self) -> bool:
        """Whether instances see only their sandbox (container paths)."""
        return self.confinement is not None and self.confinement.sandbox.isolates

    def launch(
        self,
        host: str,
        spec_path: Path,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        python: str,
        box: InstanceBox | None = None,
    ) -> InstanceHandle:
        """Start ``python -m hybridjobs.bootstrap SPEC``; with ``box``, confined (then
        ``spec_path`` is the path the instance sees)."""
        if python != self.service_python:
            env = dict(env)
            extra = package_path()
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(extra)]))
            if box is not None:
                box = dataclasses.replace(box, runtime=(*box.runtime, extra))
        argv = [python, "-m", "hybridjobs.bootstrap", str(spec_path)]
        return self.launch_argv(host, argv, env, cwd, log_path, exit_file, box)

    def launch_argv(
        self,
        host: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        box: InstanceBox | None = None,
    ) -> InstanceHandle:
        """Start ``argv`` (e.g. ``mpirun ...``) as an instance, confined with ``box``."""
        return launch(
            host,
            argv,
            env,
            cwd,
            log_path,
            exit_file,
            die_with_parent=self.die_with_parent,
            box=box,
            confinement=self.confinement,
        )
