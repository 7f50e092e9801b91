"""The warm-pool zygote: a pre-started interpreter that forks job instances on request.

:class:`hybridjobs.runners.warmpool.WarmPool` starts each zygote as
``python -m hybridjobs.runners.zygote --fd N --pool DIR [--preload MODULE ...]`` in a
session of its own, with the clean environment every instance starts from (no server
variables, no secrets), ``/`` as its cwd and ``/dev/null`` as stdin. ``DIR`` only tags the
processes of one pool for ``ps`` (embryos, and the instances they become, share the
zygote's command line). The zygote imports the preload
modules (each in ``try``/``except``: a missing optional package is reported, not fatal),
warms the Braket SDK's OpenQASM parser (:func:`warm_up`), freezes the garbage collector's
view of it all (``gc.freeze``: forked children never scan those objects) and says
``ready``. It never runs a circuit, a simulator or any OpenMP code: a parent that has
entered an OpenMP region makes every forked child that uses OpenMP hang (libgomp's thread
pool is not fork-safe), while an import-only parent forks safely.

To keep ``fork`` (10-20 ms for a few hundred MiB of parent) off the job's critical path,
the zygote keeps one *embryo*: a child forked in advance that has become a session leader,
closed the zygote's channel and waits for its order. A spawn hands the order to the
embryo, answers with the embryo's pid, then forks the next embryo.

Channel: the inherited stream socket ``--fd``; each message is a 4-byte big-endian length
followed by that many bytes of UTF-8 JSON (the embryo's order travels the same way).

* zygote -> pool, once: ``{"op": "ready", "pid", "loaded": [...], "failed": {mod: error},
  "threads": n}``.
* pool -> zygote: ``{"op": "spawn", "spec", "env", "cwd", "log", "exit_file", "python"}``;
  the zygote answers ``{"op": "spawned", "pid", "start_time"}`` (start time in clock ticks
  since boot) or ``{"op": "error", "message"}``. The answer goes out *before* the embryo
  gets its order: a zygote that dies in between leaves an embryo that exits unstarted (the
  instance reads as killed), never an instance the pool does not know about and starts
  again cold.
* zygote -> pool, whenever an instance ends: ``{"op": "exit", "pid", "code"}`` (``-N``:
  killed by signal ``N``). The zygote reaps its children on ``SIGCHLD`` (none stays a
  zombie); embryos that die unused are reaped silently.
* End of file on the channel (the pool stopped, or the service died): the zygote exits,
  and so does its embryo; instances keep running in their own sessions, exactly like cold
  instances (the scheduler stops them).

An embryo that gets its order (see :meth:`Order.become_instance`) restores the signal
dispositions the interpreter started with, points stdout and stderr at the instance log
(appending) and closes every other file descriptor, replaces its environment with exactly
the instance's, changes to the instance's directory, sets ``RLIMIT_CORE`` to 0, re-seeds
NumPy's global generator (it would otherwise repeat the zygote's sequence in every child)
and runs :func:`hybridjobs.bootstrap.run_instance`. It ends the way an interpreter that
returns does (:func:`leave`). A job whose source declares requirements (a non-empty
``requirements.txt`` anywhere in it) must not run where the preloaded modules would
shadow the versions it installs: the embryo downloads the source first (where the
bootstrap looks for it, so it is not fetched twice) and, if it declares requirements or
cannot be inspected, replaces itself with the cold bootstrap (``execve`` of ``python -m
hybridjobs.bootstrap SPEC``) — same pid, session, log, environment and directory.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib
import io
import json
import os
import posixpath
import resource
import select
import signal
import socket
import struct
import sys
import tarfile
import threading
import traceback
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from hybridjobs.runners.contract import InstanceSpec

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 << 20
"""Upper bound of one channel message (an instance's environment fits many times over)."""

REQUIREMENTS_FILE = "requirements.txt"

Handler = Callable[[int, Any], Any] | int | None


class ChannelClosed(Exception):
    """The other end of the channel closed it (or sent a truncated message)."""


# -- framing (shared with the pool) -------------------------------------------------------


def send_message(sock: socket.socket, message: Mapping[str, Any]) -> None:
    """Send one length-prefixed JSON message (blocking until it is all written)."""
    payload = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed("end of file on the zygote channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket) -> dict[str, Any]:
    """Receive one message; :class:`ChannelClosed` at end of file."""
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    if size > MAX_MESSAGE_BYTES:
        raise ChannelClosed(f"zygote channel message of {size} bytes is too large")
    message = json.loads(_recv_exactly(sock, size))
    if not isinstance(message, dict):
        raise ChannelClosed("zygote channel message is not a JSON object")
    return message


def raw_start_time(pid: int) -> int:
    """``/proc/PID/stat`` field 22 (start time in clock ticks), zombie or not; -1 if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def _is_live(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")


# -- what the zygote loads ------------------------------------------------------------------


def preload(modules: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Import each module; return the ones loaded and ``{module: error}`` for the rest."""
    loaded: list[str] = []
    failed: dict[str, str] = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # an optional package may be absent or broken
            failed[name] = f"{type(exc).__name__}: {exc}"
        else:
            loaded.append(name)
    return loaded, failed


def warm_up() -> list[str]:
    """Fill caches every job would fill on its first circuit, without running one. When
    the Braket SDK is loaded: serialise Bell circuits to OpenQASM and parse them (the ANTLR
    runtime builds its lexer and parser DFAs lazily: ~40 ms of a forked job's first
    ``LocalSimulator().run``), and read the default simulator's capabilities (pydantic
    models built on first use: ~10 ms). Pure Python: no simulation, so no numba kernel and
    no OpenMP region runs. Returns what it warmed."""
    warmed: list[str] = []
    if "braket.circuits" in sys.modules:
        with contextlib.suppress(Exception):
            from braket.circuits import Circuit
            from braket.circuits.serialization import IRType
            from braket.default_simulator.openqasm.parser.openqasm_parser import parse

            program = Circuit().h(0).cnot(0, 1).rx(1, 0.5).probability()
            parse(program.to_ir(IRType.OPENQASM).source)
            parse(Circuit().h(0).cnot(0, 1).to_ir(IRType.OPENQASM).source)
            warmed.append("openqasm-parser")
    if "braket.devices" in sys.modules:
        with contextlib.suppress(Exception):
            from braket.devices import LocalSimulator

            LocalSimulator().properties  # noqa: B018 - builds (and caches) the models
            warmed.append("local-simulator-properties")
    return warmed


def _signal_dispositions() -> dict[int, Handler]:
    """The disposition of every signal as this interpreter started with it."""
    dispositions: dict[int, Handler] = {}
    for signum in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            dispositions[int(signum)] = signal.getsignal(signum)
    return dispositions


# -- the zygote -----------------------------------------------------------------------------


@dataclass
class _Embryo:
    """The zygote's handle on its forked-in-advance child."""

    pid: int
    start_time: int
    order_socket: socket.socket


class EmbryoBorn(Exception):
    """Raised in a freshly forked embryo to leave the zygote's loop (carries its socket)."""

    def __init__(self, order_socket: socket.socket) -> None:
        super().__init__("embryo")
        self.order_socket = order_socket


class Zygote:
    """The zygote's serving loop (single-threaded: the main thread does everything)."""

    def __init__(self, channel: socket.socket, dispositions: dict[int, Handler]) -> None:
        self.channel = channel
        self.dispositions = dispositions
        self.embryo: _Embryo | None = None
        self.wakeup_read, self.wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)

    def serve(self) -> None:
        """Answer commands until end of file. In a forked embryo, raises
        :class:`EmbryoBorn` (the embryo's way out of the loop)."""
        signal.signal(signal.SIGCHLD, _ignore_signal)
        signal.set_wakeup_fd(self.wakeup_write, warn_on_full_buffer=False)
        poller = select.poll()
        poller.register(self.channel.fileno(), select.POLLIN)
        poller.register(self.wakeup_read, select.POLLIN)
        self._ensure_embryo()
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self.wakeup_read in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self.wakeup_read, 4096):
                        pass
                self._reap()
            if self.channel.fileno() in ready:
                try:
                    message = recv_message(self.channel)
                except (ChannelClosed, OSError):
                    return
                if message.get("op") == "spawn":
                    self._spawn(message)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.embryo is not None and pid == self.embryo.pid:
                self.embryo.order_socket.close()
                self.embryo = None  # died unused (killed from outside): not an instance
                continue
            with contextlib.suppress(OSError):
                send_message(
                    self.channel,
                    {"op": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)},
                )

    def _ensure_embryo(self) -> None:
        """Fork an embryo unless one is waiting; returns once it leads its own session."""
        if self.embryo is not None:
            if _is_live(self.embryo.pid):
                return
            self.embryo.order_socket.close()
            self.embryo = None
        sys.stdout.flush()
        sys.stderr.flush()
        ours, theirs = socket.socketpair()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return
        if pid == 0:
            ours.close()
            self._become_embryo()
            raise EmbryoBorn(theirs)
        theirs.close()
        try:
            born = ours.recv(1) == b"s"
        except OSError:
            born = False
        if not born:
            ours.close()
            return
        self.embryo = _Embryo(pid, raw_start_time(pid), ours)

    def _become_embryo(self) -> None:
        """In the new child: own session, nothing of the zygote's channel kept."""
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, self.dispositions.get(signal.SIGCHLD) or signal.SIG_DFL)
        os.close(self.channel.detach())
        os.close(self.wakeup_read)
        os.close(self.wakeup_write)

    def _spawn(self, message: dict[str, Any]) -> None:
        try:
            order = Order.from_message(message)
        except (KeyError, TypeError, ValueError) as exc:
            send_message(self.channel, {"op": "error", "message": f"bad spawn command: {exc!r}"})
            return
        self._ensure_embryo()
        embryo, self.embryo = self.embryo, None
        if embryo is None:
            send_message(self.channel, {"op": "error", "message": "could not fork"})
            return
        with embryo.order_socket:
            send_message(
                self.channel,
                {"op": "spawned", "pid": embryo.pid, "start_time": embryo.start_time},
            )
            with contextlib.suppress(OSError):
                send_message(embryo.order_socket, order.to_message())
        self._ensure_embryo()


def _ignore_signal(signum: int, frame: Any) -> None:
    """SIGCHLD only needs to wake the poll (through the wakeup fd)."""


# -- the instance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """What an embryo must become: one instance, as the pool described it."""

    spec: Path
    env: dict[str, str]
    cwd: Path
    log: Path
    exit_file: Path
    python: str

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
        }

    def become_instance(self, dispositions: Mapping[int, Handler]) -> int:
        """Turn this embryo into the instance and run it; the instance's exit code.

        On any failure before the job's code runs, prints the traceback (to the instance
        log once it is in place), writes exit code 1 to the exit file and returns 1.
        """
        try:
            self._isolate(dispositions)
            if self._needs_cold_bootstrap():
                self._exec_cold()
            from hybridjobs.bootstrap import run_instance

            return run_instance(self.spec)
        except BaseException:
            traceback.print_exc()
            with contextlib.suppress(OSError):
                self.exit_file.write_text("1\n")
            return 1

    def _isolate(self, dispositions: Mapping[int, Handler]) -> None:
        """Signals, file descriptors, environment, cwd and limits of a cold instance."""
        for signum, handler in dispositions.items():
            if handler is not None:
                with contextlib.suppress(OSError, ValueError, RuntimeError):
                    signal.signal(signum, handler)
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
            from hybridjobs.runners.contract import load_instance_spec

            source = _fetch_source(load_instance_spec(self.spec))
            if source is None:
                return False  # nothing to fetch: the bootstrap reports the setup failure
            return _declares_requirements(source)
        except Exception:
            return True

    def _exec_cold(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [self.python, "-m", "hybridjobs.bootstrap", str(self.spec)]
        os.execve(self.python, argv, self.env)


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


def _declares_requirements(source: Path) -> bool:
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
    ``atexit`` handlers, flush every open file the instance created, then ``_exit(code)``.
    Only ``__del__`` methods that Python would call while tearing modules down are skipped
    (Python does not promise to call them at exit)."""
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
    os._exit(code)


def _await_order(order_socket: socket.socket, dispositions: Mapping[int, Handler]) -> NoReturn:
    """The embryo's life: say it leads its session, wait for the order, run the instance.
    End of file instead of an order (the zygote ended) ends the embryo, unstarted."""
    try:
        order_socket.sendall(b"s")
        order = Order.from_message(recv_message(order_socket))
    except (ChannelClosed, OSError, KeyError, TypeError, ValueError):
        os._exit(0)
    order_socket.detach()  # its fd goes with closerange; the object must not close a reused one
    leave(order.become_instance(dispositions))


# -- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run a zygote until its channel ends; the process's exit code. (Embryos forked from
    it never return from here: they run their instance and ``_exit``.)"""
    parser = argparse.ArgumentParser(prog="python -m hybridjobs.runners.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the channel's file descriptor")
    parser.add_argument("--pool", default="", help="the pool's directory (a tag for ps)")
    parser.add_argument("--preload", nargs="*", default=[], help="modules to import")
    args = parser.parse_args(argv)
    channel = socket.socket(fileno=args.fd)
    here = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", here)]
    dispositions = _signal_dispositions()
    loaded, failed = preload(args.preload)
    import hybridjobs.archives
    import hybridjobs.bootstrap
    import hybridjobs.objects  # noqa: F401 - every instance uses them

    warmed = warm_up()
    gc.collect()
    gc.freeze()
    try:
        send_message(
            channel,
            {
                "op": "ready",
                "pid": os.getpid(),
                "loaded": loaded,
                "failed": failed,
                "warmed": warmed,
                "threads": threading.active_count(),
                "os_threads": len(os.listdir("/proc/self/task")),
            },
        )
    except OSError:
        return 0
    zygote = Zygote(channel, dispositions)
    try:
        zygote.serve()
    except EmbryoBorn as born:
        _await_order(born.order_socket, dispositions)
    return 0


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # nothing to tear down: skip the ~200 ms of module finalisation
