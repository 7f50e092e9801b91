"""What the warm pool knows about its zygotes: their records, environment and ending.

* :func:`zygote_environment`: the clean environment a zygote starts with;
* :func:`_kill_group`: SIGKILL a zygote's process group;
* :class:`ForkedInstanceHandle`: an instance forked from a zygote, whose exit the zygote
  reports;
* :class:`_Zygote`: the pool's side of one zygote;
* :class:`InPlaceSandbox`: what a warm start that sandboxes itself in place carries.

Split out of :mod:`hybridjobs.runners.warmpool` (which re-exports them) so that the pool and
its refill thread (:mod:`hybridjobs.runners.warmrefill`) share them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridjobs.runners.boxedzygote import Slot
from hybridjobs.runners.contract import HOST_VARIABLES
from hybridjobs.runners.local import InstanceHandle, package_path
from hybridjobs.sandbox.cgroups import InstanceCgroup


def zygote_environment(python: str) -> dict[str, str]:
    """The environment zygotes start with: what every instance's environment starts from
    (see :func:`hybridjobs.runners.contract.build_environment`) and nothing else."""
    env = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
    python_bin = os.path.dirname(python)
    path = env.get("PATH", os.defpath)
    if python_bin and path.split(os.pathsep)[0] != python_bin:
        env["PATH"] = os.pathsep.join([python_bin, path])
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    for directory in foreign_package_path(python):
        env["PYTHONPATH"] = str(directory)
    return env


def foreign_package_path(python: str) -> tuple[Path, ...]:
    """Where another interpreter than the service's (an image's environment) finds
    hybridjobs, and only it (:func:`hybridjobs.runners.local.package_path`); ``()`` for
    the service's own interpreter. Its zygotes have it on ``PYTHONPATH``, and a sandbox
    of their instances must show it."""
    if os.path.abspath(python) == os.path.abspath(sys.executable):  # not realpath: venvs
        return ()
    return (package_path(),)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a zygote's process group (a sandboxed zygote's includes the sandbox's PID 1,
    whose death ends the sandbox; killing the outer ``bwrap`` alone would not)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


@dataclass
class ForkedInstanceHandle(InstanceHandle):
    """An instance forked from a zygote: the zygote (its parent) reports its exit code.

    Until (or unless: the zygote may die first) the report arrives, liveness comes from
    ``/proc`` and the exit code from the exit file, as for a re-attached instance.
    """

    reported_code: int | None = field(default=None, repr=False, compare=False)

    def is_alive(self) -> bool:
        if self.reported_code is not None:
            return False
        return super().is_alive()

    def exit_code(self) -> int | None:
        code = self.reported_code
        if code is not None:
            return 128 - code if code < 0 else code
        return super().exit_code()


@dataclass(eq=False)
class _Zygote:
    """The pool's side of one zygote."""

    number: int
    process: subprocess.Popen[bytes]
    channel: socket.socket
    pid: int
    loaded: list[str]
    failed: dict[str, str]
    threads: int
    os_threads: int
    warmed: list[str]
    alive: bool = True
    busy: bool = False
    slot: Slot | None = None  # a sandboxed zygote's (see hybridjobs.runners.boxedzygote)
    used: bool = False  # a sandboxed zygote that has forked its one instance
    pending: tuple[str, str] | None = None  # (host, exit file) of the spawn in flight
    replies: queue.Queue[ForkedInstanceHandle | str | None] = field(default_factory=queue.Queue)
    children: dict[int, ForkedInstanceHandle] = field(default_factory=dict)
    spawned: int = 0


@dataclass(frozen=True)
class InPlaceSandbox:
    """The sandbox a warm-started instance puts itself in (a pool that sandboxes in place,
    see :meth:`hybridjobs.runners.warmpool.WarmPool.spawn`): the ``bwrap`` command line it
    re-executes under, and the cgroup made for it (``None`` when the host delegates none).

    The pool owns ``cgroup`` until a fork succeeds (then the instance's handle does);
    :meth:`forget` removes it when the spawn forked nothing.
    """

    argv: tuple[str, ...]
    cgroup: InstanceCgroup | None = None

    @property
    def cgroup_procs(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files the instance writes itself into (``()``: no cgroup)."""
        if self.cgroup is None:
            return ()
        return tuple(str(directory / "cgroup.procs") for directory in self.cgroup.dirs)

    def command_fields(self) -> dict[str, Any]:
        """The fields a zygote's ``spawn`` command carries for it (JSON values; read by
        :mod:`hybridjobs.runners.embryo`)."""
        return {"sandbox": list(self.argv), "cgroup_procs": list(self.cgroup_procs)}

    def forget(self) -> None:
        """End anything in the cgroup and remove it (a spawn that forked nothing)."""
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()
