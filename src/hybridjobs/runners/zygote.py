"""The warm-pool zygote: a pre-started interpreter that forks job instances on request.

:class:`hybridjobs.runners.warmpool.WarmPool` starts each zygote as
``python -m hybridjobs.runners.zygote --fd N --pool DIR [--preload MODULE ...]`` in a
session of its own, with the clean environment every instance starts from (no server
variables, no secrets), ``/`` as its cwd and ``/dev/null`` as stdin. ``DIR`` only tags the
processes of one pool for ``ps`` (embryos, and the instances they become, share the
zygote's command line).

The zygote imports the preload modules (each in ``try``/``except``: a missing optional
package is reported, not fatal), fills the Braket SDK's lazy caches without simulating
anything (:func:`warm_up`), freezes the garbage collector's view of it all
(``gc.freeze``: forked children never scan those objects) and says ``ready``. It never
runs a circuit, a simulator or any OpenMP code: a parent that has entered an OpenMP region
makes every forked child that uses OpenMP hang (libgomp's thread pool is not fork-safe),
while an import-only parent forks safely. Every fork is made single-threaded: imports
that leave worker threads running (OpenBLAS, in numpy and scipy) have them ended first
(:mod:`hybridjobs.runners.zygotethreads`), and a thread that cannot be ended is named in
the zygote's log.

A message the zygote cannot use (unknown, malformed, or a channel that breaks other than
by an orderly end of file) is named in its log (``warm-pool/zygote-N.log``); the pool
logs what it cannot use of a zygote's messages in the service log.

To keep ``fork`` (10-20 ms for a few hundred MiB of parent) off the job's critical path,
the zygote keeps one *embryo*: a child forked in advance that has become a session leader,
closed the zygote's channel and waits for its order. A spawn hands the order to the
embryo, answers with the embryo's pid, then forks the next embryo.

Channel: the inherited stream socket ``--fd``, carrying length-prefixed JSON messages
(:mod:`hybridjobs.runners.channel`; the embryo's order travels the same way).

* zygote -> pool, once its first embryo waits: ``{"op": "ready", "pid", "loaded": [...],
  "failed": {mod: error}, "warmed": [...], "threads": n, "os_threads": n}``.
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

What an embryo does with its order (become the instance, in isolation) is
:mod:`hybridjobs.runners.embryo`; the wire format is :mod:`hybridjobs.runners.channel`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import importlib
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridjobs.runners.channel import ChannelClosed, recv_message, send_message
from hybridjobs.runners.embryo import Handler, Order, await_order
from hybridjobs.runners.zygotethreads import quiesce_threads, watch_for_orphaning

END_OF_FILE = "end of file on the zygote channel"
"""What :class:`ChannelClosed` says when the other end closed the channel in order."""


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


WARM_UP_CIRCUITS: tuple[tuple[tuple[str, tuple[float, ...]], ...], ...] = (
    (("x", (0,)), ("cz", (0, 1)), ("ry", (1, 0.5)), ("probability", ())),
    (("y", (0,)), ("swap", (0, 1))),
)
"""What :func:`warm_up` serialises and parses, as ``(method, args)`` calls on a
``Circuit``: neutral circuits (one with a result type, one measured), deliberately none
of the gates of the benchmarks' Bell job (``h``, ``cnot``), so a benchmark never times a
circuit the zygote has already parsed."""


def warm_up() -> list[str]:
    """Fill caches every job would fill on its first circuit, without running one. When
    the Braket SDK is loaded: serialise :data:`WARM_UP_CIRCUITS` (neutral circuits: none
    of the benchmarks' Bell circuit ``h``/``cnot``) to OpenQASM and parse them (the ANTLR
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

            for gates in WARM_UP_CIRCUITS:
                circuit = Circuit()
                for gate, args in gates:
                    getattr(circuit, gate)(*args)
                parse(circuit.to_ir(IRType.OPENQASM).source)
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
    """Raised in a freshly forked embryo to leave the zygote's loop (carries its socket).
    :func:`main` catches it and runs the embryo only after leaving the ``except`` block, so
    the job's code never runs while it is being handled."""

    def __init__(self, order_socket: socket.socket) -> None:
        super().__init__("embryo")
        self.order_socket = order_socket


class Zygote:
    """The zygote's serving loop (single-threaded: the main thread does everything)."""

    def __init__(
        self,
        channel: socket.socket,
        dispositions: dict[int, Handler],
        once: bool = False,
        log_fd: int | None = None,
    ) -> None:
        self.channel = channel
        self.dispositions = dispositions
        self.once = once
        """One-shot (a sandboxed zygote): fork one instance, in this process group, then
        exit once it has ended (see :mod:`hybridjobs.runners.boxedzygote`)."""
        self.log_fd = log_fd
        """The instance's log, opened by the pool (one-shot zygotes)."""
        self.instance: int | None = None
        self.embryo: _Embryo | None = None
        self.wakeup_read, self.wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)

    def serve(self, ready: Mapping[str, Any]) -> None:
        """Fork the first embryo, send ``ready``, then answer commands until end of file.
        In a forked embryo, raises :class:`EmbryoBorn` (the embryo's way out)."""
        signal.signal(signal.SIGCHLD, _ignore_signal)
        if self.once:
            # Stopping the instance signals its whole group, this zygote included: it must
            # outlive the instance's grace period (its death would end the sandbox).
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.set_wakeup_fd(self.wakeup_write, warn_on_full_buffer=False)
        poller = select.poll()
        poller.register(self.channel.fileno(), select.POLLIN)
        poller.register(self.wakeup_read, select.POLLIN)
        self._ensure_embryo()
        try:
            send_message(self.channel, ready)
        except OSError:
            return
        while True:
            readable = {fd for fd, _ in poller.poll()}
            if self.wakeup_read in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self.wakeup_read, 4096):
                        pass
                self._reap()
                if self.once and self.instance is not None and not _is_live(self.instance):
                    return  # the one instance has ended (and its exit was reported)
            if self.channel.fileno() in readable:
                try:
                    message = recv_message(self.channel)
                except (ChannelClosed, OSError, ValueError) as exc:
                    if not _is_end_of_file(exc):
                        _complain(f"leaving: the pool's channel broke: {exc!r}")
                    self._outlive_instance()
                    return
                if message.get("op") == "spawn":
                    self._spawn(message)
                else:
                    _complain(f"ignoring a message of unknown op: {message!r:.200}")

    def _outlive_instance(self) -> None:
        """A one-shot zygote whose pool went away stays until its instance ends: its
        death would end the sandbox, and the instance with it."""
        if self.once and self.instance is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.instance, 0)

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
        threads = quiesce_threads()
        if threads:
            _complain(f"forking an embryo while other threads run: {threads}")
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
        if not self.once:
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
            _complain(f"refusing a bad spawn command: {exc!r}")
            send_message(self.channel, {"op": "error", "message": f"bad spawn command: {exc!r}"})
            return
        if self.once:
            try:
                make_links(dict(message.get("links") or {}))
            except (OSError, TypeError, ValueError) as exc:
                _complain(f"cannot lay out the instance's paths: {exc!r}")
                send_message(self.channel, {"op": "error", "message": f"links: {exc!r}"})
                return
        self._ensure_embryo()
        embryo, self.embryo = self.embryo, None
        if embryo is None:
            send_message(self.channel, {"op": "error", "message": "could not fork"})
            return
        if self.once:
            order = dataclasses.replace(order, log_fd=self.log_fd)
            self.instance = embryo.pid
        with embryo.order_socket:
            send_message(
                self.channel,
                {"op": "spawned", "pid": embryo.pid, "start_time": embryo.start_time},
            )
            with contextlib.suppress(OSError):
                send_message(embryo.order_socket, order.to_message())
        if not self.once:
            self._ensure_embryo()


def _is_end_of_file(exc: BaseException) -> bool:
    """Whether ``exc`` is the channel's orderly end (the pool closed it), not an error."""
    return isinstance(exc, ChannelClosed) and str(exc) == END_OF_FILE


def make_links(links: Mapping[str, str]) -> None:
    """In a one-shot zygote's sandbox: make each absolute path of ``links`` a symlink to
    its value (the sandbox's root is its own tmpfs; ``OSError`` where it cannot be made)."""
    for path, target in links.items():
        if not (os.path.isabs(path) and os.path.isabs(target)):
            raise ValueError(f"not absolute: {path!r} -> {target!r}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)


def _complain(message: str) -> None:
    """Say ``message`` in the zygote's log (its stderr: ``warm-pool/zygote-N.log``)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"zygote {os.getpid()}: {message}", file=sys.stderr, flush=True)


def _ignore_signal(signum: int, frame: Any) -> None:
    """SIGCHLD only needs to wake the poll (through the wakeup fd)."""


# -- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run a zygote until its channel ends; the process's exit code. (Embryos forked from
    it never return from here: they run their instance and ``_exit``.)"""
    parser = argparse.ArgumentParser(prog="python -m hybridjobs.runners.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the channel's file descriptor")
    parser.add_argument("--pool", default="", help="the pool's directory (a tag for ps)")
    parser.add_argument("--preload", nargs="*", default=[], help="modules to import")
    parser.add_argument("--once", action="store_true", help="fork one instance, then exit")
    parser.add_argument("--log-fd", type=int, help="the instance's log (with --once)")
    parser.add_argument(
        "--sandbox-ahead",
        action="store_true",
        help="embryos make their sandbox's namespaces before their order (instances that "
        "make their own sandbox: hybridjobs.sandbox.inplace)",
    )
    args = parser.parse_args(argv)
    channel = socket.socket(fileno=args.fd)
    here = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", here)]
    dispositions = _signal_dispositions()
    stop_watching = watch_for_orphaning(channel)
    loaded, failed = preload(args.preload)
    import hybridjobs.archives
    import hybridjobs.bootstrap
    import hybridjobs.objects  # noqa: F401 - every instance uses them

    warmed = warm_up()
    stop_watching()
    gc.collect()
    gc.freeze()
    quiesce_threads()
    ready = {
        "op": "ready",
        "pid": os.getpid(),
        "loaded": loaded,
        "failed": failed,
        "warmed": warmed,
        "threads": threading.active_count(),
        "os_threads": len(os.listdir("/proc/self/task")),
    }
    zygote = Zygote(channel, dispositions, once=args.once, log_fd=args.log_fd)
    order_socket: socket.socket | None = None
    try:
        zygote.serve(ready)
    except EmbryoBorn as born:
        order_socket = born.order_socket
        born.__traceback__ = None  # the zygote's frames go with it
    if order_socket is not None:
        # Out of the except block: the job must find no exception being handled
        # (sys.exc_info() empty, no EmbryoBorn as the __context__ of its own exceptions).
        del zygote
        await_order(order_socket, dispositions, sandbox_ahead=args.sandbox_ahead)
    return 0


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # nothing to tear down: skip the ~200 ms of module finalisation
