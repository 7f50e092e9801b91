"""What a warm-pool embryo does to become a job instance, and how it leaves.

An embryo is a child a zygote forked in advance (see :mod:`hybridjobs.runners.zygote`): it
leads its own session, holds nothing of the zygote's channel, and waits on its own socket
for one :class:`Order`. :func:`await_order` is its whole life: it says it is ready, reads
the order (end of file instead means the zygote ended: the embryo exits unstarted), runs
:meth:`Order.become_instance` and ends through :func:`leave`.

Becoming the instance: restore the signal dispositions the interpreter started with,
point stdout and stderr at the instance log (appending), close every other file
descriptor, replace the environment with exactly the instance's, change to the instance's
directory, set ``RLIMIT_CORE`` to 0, re-seed NumPy's global generator (it would otherwise
repeat the zygote's sequence in every child), then run
:func:`hybridjobs.bootstrap.run_instance`.

A job whose source declares requirements (a non-empty ``requirements.txt`` anywhere in it)
must not run where the preloaded modules would shadow the versions it installs: the embryo
downloads the source first (where the bootstrap looks for it, so it is not fetched twice)
and, if it declares requirements or cannot be inspected, replaces itself with the cold
bootstrap (``execve`` of ``python -m hybridjobs.bootstrap SPEC``): same pid, session,
log, environment and directory, so the service cannot tell it from a cold instance.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import io
import os
import posixpath
import resource
import signal
import socket
import sys
import tarfile
import threading
import traceback
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hybridjobs.runners.channel import ChannelClosed, recv_message
from hybridjobs.runners.spec import InstanceSpec

if TYPE_CHECKING:
    from hybridjobs.sandbox.inplace import Prepared

REQUIREMENTS_FILE = "requirements.txt"
_ZYGOTE_PYTHONPATH = os.environ.get("PYTHONPATH")
"""The zygote's own ``PYTHONPATH`` (read when it imports this module, before any fork)."""

Handler = Callable[[int, Any], Any] | int | None
"""A signal disposition as ``signal.getsignal`` returns it."""


@dataclass(frozen=True)
class Order:
    """What an embryo must become: one instance, as the pool described it."""

    spec: Path
    env: dict[str, str]
    cwd: Path
    log: Path
    exit_file: Path
    python: str
    die_with_zygote: bool = False
    """Ask the kernel to SIGKILL the instance when its zygote dies (the Ray node pool:
    an instance must not outlive the agent that watches it)."""
    log_fd: int | None = None
    """An open descriptor of the log to use instead of opening ``log`` (a sandboxed
    zygote's, which cannot see the log's path)."""
    sandbox: tuple[str, ...] = ()
    """The ``bwrap`` command line of the sandbox the instance makes for itself before
    anything else (:mod:`hybridjobs.sandbox.inplace`; empty: none)."""
    cgroup_procs: tuple[str, ...] = ()
    """The ``cgroup.procs`` files of the instance's cgroup, joined first (with ``sandbox``)."""

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Order:
        env = message["env"]
        if not isinstance(env, dict):
            raise TypeError("env must be an object")
        return cls(
            spec=Path(message["spec"]),
            env={str(k): str(v) for k, v in env.items()},
            cwd=Path(message["cwd"]),
            log=Path(message["log"]),
            exit_file=Path(message["exit_file"]),
            python=str(message["python"]),
            die_with_zygote=bool(message.get("die_with_zygote", False)),
            log_fd=int(message["log_fd"]) if message.get("log_fd") is not None else None,
            sandbox=tuple(str(a) for a in message.get("sandbox") or ()),
            cgroup_procs=tuple(str(p) for p in message.get("cgroup_procs") or ()),
        )

    def to_message(self) -> dict[str, Any]:
        return {
            "op": "spawn",
            "spec": str(self.spec),
            "env": self.env,
            "cwd": str(self.cwd),
            "log": str(self.log),
            "exit_file": str(self.exit_file),
            "python": self.python,
            "die_with_zygote": self.die_with_zygote,
            "log_fd": self.log_fd,
            "sandbox": list(self.sandbox),
            "cgroup_procs": list(self.cgroup_procs),
        }

    def become_instance(self, dispositions: Mapping[int, Handler]) -> int:
        """Turn this embryo into the instance and run it; the instance's exit code.

        On any failure before the job's code runs, prints the traceback (to the instance
        log once it is in place), writes exit code 1 to the exit file and returns 1.
        """
        try:
            if self.sandbox:
                return self._enter_sandbox()._become_instance(dispositions)
            return self._become_instance(dispositions)
        except BaseException:
            traceback.print_exc()
            with contextlib.suppress(OSError):
                self.exit_file.write_text("1\n")
            return 1

    def hand_over(self, prepared: Prepared) -> NoReturn:
        """Give this order to the sandbox :func:`hybridjobs.sandbox.inplace.prepare` made
        ahead (its instance process runs it, see :func:`await_order`); this process keeps
        the instance from then on and never returns. A failure before that is the
        instance's: said in its log, exit code 1."""
        from hybridjobs.sandbox.newroot import BoxPlan

        try:
            if self.die_with_zygote:
                _die_with_zygote()  # the sandbox's init dies with this process, and with it all
            plan = BoxPlan.from_bwrap_argv(self.sandbox)
            log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            rest = dataclasses.replace(self, sandbox=(), cgroup_procs=(), log_fd=None)
        except BaseException:
            prepared.abandon()
            traceback.print_exc()
            with contextlib.suppress(OSError):
                self.exit_file.write_text("1\n")
            os._exit(1)
        cgroups = [Path(procs) for procs in self.cgroup_procs]
        prepared.hand_over(plan, rest.to_message(), cgroups, log)

    def _enter_sandbox(self) -> Order:
        """Open the log (on the host's paths), then make the sandbox and continue inside
        it as its instance (see :func:`hybridjobs.sandbox.inplace.enter`); the order as it
        goes on there (the log open, no sandbox left to make)."""
        from hybridjobs.sandbox.inplace import enter
        from hybridjobs.sandbox.newroot import BoxPlan

        if self.die_with_zygote:
            _die_with_zygote()  # the sandbox's init dies with this process, and with it all
        plan = BoxPlan.from_bwrap_argv(self.sandbox)
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        enter(plan, [Path(p) for p in self.cgroup_procs], log)
        return dataclasses.replace(self, log_fd=log, sandbox=(), cgroup_procs=())

    def _become_instance(self, dispositions: Mapping[int, Handler]) -> int:
        self._isolate(dispositions)
        if self._needs_cold_bootstrap():
            self._exec_cold()
        from hybridjobs.bootstrap import run_instance

        return run_instance(self.spec)

    def _isolate(self, dispositions: Mapping[int, Handler]) -> None:
        """Signals, file descriptors, environment, cwd and limits of a cold instance."""
        if self.die_with_zygote:
            _die_with_zygote()
        for signum, handler in dispositions.items():
            if handler is not None:
                with contextlib.suppress(OSError, ValueError, RuntimeError):
                    signal.signal(signum, handler)
        if self.log_fd is not None:
            log = self.log_fd
        else:
            log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, _max_fd())
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.cwd)
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        numpy_random = sys.modules.get("numpy.random")
        if numpy_random is not None:
            numpy_random.seed()
        sys.orig_argv = [self.python, "-m", "hybridjobs.bootstrap", str(self.spec)]

    def _needs_cold_bootstrap(self) -> bool:
        """Whether the job's source declares requirements (or cannot be inspected)."""
        try:
            from hybridjobs.runners.spec import load_instance_spec

            source = _fetch_source(load_instance_spec(self.spec))
            if source is None:
                return False  # nothing to fetch: the bootstrap reports the setup failure
            return declares_requirements(source)
        except Exception:
            return True

    def _exec_cold(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [self.python, "-m", "hybridjobs.bootstrap", str(self.spec)]
        env = dict(self.env)
        # A zygote of an image environment found hybridjobs through PYTHONPATH: so does
        # the bootstrap it execs (the service's own zygotes have none).
        if _ZYGOTE_PYTHONPATH:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [env.get("PYTHONPATH"), _ZYGOTE_PYTHONPATH])
            )
        os.execve(self.python, argv, env)


def _die_with_zygote() -> None:
    """SIGKILL this process when its parent (the zygote) dies; exit at once if it has
    died already."""
    import ctypes

    zygote = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != zygote:
        os._exit(1)


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY and soft > 3 else 1 << 20


def _fetch_source(spec: InstanceSpec) -> Path | None:
    """Download the script object where the bootstrap looks for it first (it skips the
    download when the file is there); ``None`` when the spec names no script."""
    from hybridjobs.objects import open_object_store, parse_s3_uri

    if not spec.script.s3_uri or not spec.script.entry_point:
        return None
    bucket, key = parse_s3_uri(spec.script.s3_uri)
    name = posixpath.basename(key)
    if not name or name in (".", ".."):
        return None
    target = spec.paths.original_dir / name
    if not target.exists():
        open_object_store(spec.objects).get_to_file(bucket, key, target)
    return target


def declares_requirements(source: Path) -> bool:
    """Whether a ``requirements.txt`` with at least one requirement is in ``source`` (an
    archive, or a single file of that name). A member of that name that is not a regular
    file counts as declaring requirements."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                named = posixpath.basename(info.filename.rstrip("/")) == REQUIREMENTS_FILE
                if named and not info.is_dir() and _lists_requirements(archive.read(info)):
                    return True
        return False
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            for member in archive:
                named = posixpath.basename(member.name.rstrip("/")) == REQUIREMENTS_FILE
                if not named or member.isdir():
                    continue
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is None or _lists_requirements(extracted.read()):
                    return True
        return False
    return source.name == REQUIREMENTS_FILE and _lists_requirements(source.read_bytes())


def _lists_requirements(content: bytes) -> bool:
    text = content.decode("utf-8", "replace")
    return any(line.split("#", 1)[0].strip() for line in text.splitlines())


def leave(code: int) -> NoReturn:
    """End a forked instance the way an interpreter that returns does, minus tearing down
    the modules it inherited (that alone takes ~200 ms in a zygote's heap): join
    non-daemon threads (after ``threading``'s exit hooks, which shut executors down), run
    ``atexit`` handlers, flush every open file the instance created, end the other
    processes of the instance's process group (as the cold bootstrap does at exit:
    :func:`hybridjobs.instanceend.end_process_group`), then ``_exit(code)``. Only ``__del__``
    methods that Python would call while tearing modules down are skipped (Python does not
    promise to call them at exit)."""
    with contextlib.suppress(BaseException):
        shutdown: Callable[[], None] | None = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        for obj in gc.get_objects():  # the instance's own objects: the zygote's are frozen
            if isinstance(obj, io.IOBase):
                with contextlib.suppress(Exception):
                    if not obj.closed:
                        obj.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(BaseException):
        from hybridjobs.instanceend import end_process_group

        end_process_group()
    os._exit(code)


def await_order(
    order_socket: socket.socket,
    dispositions: Mapping[int, Handler],
    sandbox_ahead: bool = False,
) -> NoReturn:
    """The embryo's life: say it leads its session, wait for the order, run the instance.
    End of file instead of an order (the zygote ended) ends the embryo, unstarted.

    With ``sandbox_ahead`` (a pool whose instances make their own sandbox), the sandbox's
    namespaces and processes are made first (:func:`hybridjobs.sandbox.inplace.prepare`),
    so that an order with a sandbox only hands over: its instance process, already in the
    namespaces, returns from ``prepare`` with the order and runs it. Where they cannot be
    made, such an order makes its sandbox at once (:meth:`Order.become_instance`), which
    says why it fails."""
    prepared: Prepared | None = None
    if sandbox_ahead:
        prepared = _prepare_sandbox(dispositions)
    try:
        order_socket.sendall(b"s")
        order = Order.from_message(recv_message(order_socket))
    except (ChannelClosed, OSError, KeyError, TypeError, ValueError):
        os._exit(0)
    order_socket.detach()  # its fd goes with closerange; the object must not close a reused one
    if prepared is not None:
        if order.sandbox:
            order.hand_over(prepared)
        prepared.abandon()
    leave(order.become_instance(dispositions))


def _prepare_sandbox(dispositions: Mapping[int, Handler]) -> Prepared | None:
    """The sandbox made ahead (see :func:`await_order`): :class:`Prepared` in the embryo,
    ``None`` where it cannot be made; in the instance's process, once its order has come,
    the instance runs and leaves (never returns)."""
    from hybridjobs.sandbox.inplace import Handoff, prepare

    try:
        stage = prepare()
    except OSError as exc:
        print(f"embryo {os.getpid()}: cannot prepare a sandbox: {exc}", file=sys.stderr)
        return None
    if isinstance(stage, Handoff):
        order = Order.from_message(stage.order)
        leave(dataclasses.replace(order, log_fd=stage.log_fd).become_instance(dispositions))
    return stage
