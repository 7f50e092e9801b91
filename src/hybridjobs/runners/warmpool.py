"""The warm instance pool: zygote interpreters that fork job instances in milliseconds.

A fresh interpreter that imports the Braket SDK spends ~2 s before the job's first line;
a child forked from a parent that already imported it starts in ~20 ms. :class:`WarmPool`
keeps ``size`` zygotes (see :mod:`hybridjobs.runners.zygote`) and
:class:`~hybridjobs.runners.warmlauncher.WarmLauncher`
forks an instance from one of them whenever it can, and starts a cold one otherwise.

Contracts:

* Zygotes start with the clean environment an instance starts from (the host variables
  :data:`hybridjobs.runners.contract.HOST_VARIABLES`, the interpreter's directory first on
  ``PATH``, ``PYTHONUNBUFFERED=1`` and ``PYTHONDONTWRITEBYTECODE=1``): they never hold the
  service's variables or secrets, its file descriptors, threads or signal handlers, so
  neither can their children.
* A zygote is reusable: it forks one child per command and never runs job code itself.
  The pool only starts zygotes, one at a time, on its own daemon thread (sandboxed
  one-shot zygotes: one per missing host name side by side, see
  :mod:`hybridjobs.runners.boxedzygote`); a launch never waits for one to start. A zygote that dies (end of file on its channel) is noticed at
  once by its reader thread, dropped and replaced.
* A launch takes the warm path when the instance uses the service's own interpreter and
  a live zygote is idle or becomes idle within :data:`IDLE_WAIT_SECONDS`; otherwise (pool
  disabled, empty, still starting, zygote dead or unresponsive, other interpreter) it is a
  cold start. A zygote that dies between fork and answer takes its child with it (the
  child waits for the zygote's go-ahead), so the cold fallback never runs an instance
  twice. Jobs that declare requirements are re-executed as cold instances inside the
  forked process itself (see :mod:`hybridjobs.runners.zygote`).
* Zygotes report each child's exit; :class:`ForkedInstanceHandle` then knows the exact
  exit code (``128 + N`` when killed by signal ``N``, as for a cold instance) and
  ``on_exit(pid)`` is called so the scheduler wakes that instance's supervisor at once.

The refill thread (starting zygotes) is :mod:`hybridjobs.runners.warmrefill`; the zygote
records, their environment and :class:`ForkedInstanceHandle` are
:mod:`hybridjobs.runners.warmparts` (re-exported here).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hybridjobs.runners.boxedzygote import BoxedZygotes, SlotUnusable
from hybridjobs.runners.channel import ChannelClosed, recv_message, send_message
from hybridjobs.runners.local import process_start_time
from hybridjobs.runners.warmparts import ForkedInstanceHandle as ForkedInstanceHandle
from hybridjobs.runners.warmparts import InPlaceSandbox, _kill_group, foreign_package_path
from hybridjobs.runners.warmparts import _Zygote as _Zygote
from hybridjobs.runners.warmparts import zygote_environment as zygote_environment
from hybridjobs.runners.warmrefill import (
    ZYGOTE_READY_TIMEOUT_SECONDS as ZYGOTE_READY_TIMEOUT_SECONDS,
)
from hybridjobs.runners.warmrefill import ZygoteStarter
from hybridjobs.runners.zygote import END_OF_FILE
from hybridjobs.sandbox.box import CONTAINER_ROOT, InstanceBox
from hybridjobs.sandbox.cgroups import InstanceCgroup
from hybridjobs.sandbox.newroot import BoxPlan, PlanError
from hybridjobs.sandbox.select import Confinement

log = logging.getLogger(__name__)

SPAWN_REPLY_TIMEOUT_SECONDS = 30.0
"""How long a zygote may take to answer a spawn; one that does not is killed (and replaced)."""
IDLE_WAIT_SECONDS = 5.0
"""How long a launch waits for a busy zygote (a fork takes milliseconds) before going cold."""
ZYGOTE_STOP_SECONDS = 5.0


class WarmPool(ZygoteStarter):
    """Keeps ``size`` zygotes of ``python`` that imported ``preload``; forks instances.

    Thread-safe. ``start`` returns at once (zygotes start in the background); ``stop``
    ends every zygote (instances already forked keep running, like cold ones, until the
    scheduler stops them) and returns once they are gone.
    """

    def __init__(
        self,
        python: str,
        size: int,
        preload: Sequence[str],
        log_dir: Path,
        on_exit: Callable[[int], None] | None = None,
        *,
        die_with_zygote: bool = False,
        boxed: BoxedZygotes | None = None,
        in_place: Confinement | None = None,
    ) -> None:
        self.python = python
        self.boxed = boxed
        """Sandboxed one-shot zygotes (``None``: reusable zygotes on the host)."""
        self.in_place = in_place
        """The sandbox (and cgroups) each forked instance makes for itself as it starts
        (:mod:`hybridjobs.sandbox.inplace`), from reusable zygotes on the host."""
        self.die_with_zygote = die_with_zygote
        """Whether forked instances are killed when their zygote dies (see
        :class:`hybridjobs.runners.embryo.Order`)."""
        self.size = size
        self.preload = list(preload)
        self.log_dir = Path(log_dir)
        self.on_exit = on_exit
        self._cond = threading.Condition()
        self._zygotes: list[_Zygote] = []
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._starting: set[socket.socket] = set()
        self._readers: list[threading.Thread] = []
        self._stopping = False
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._numbers = itertools.count(1)
        self._instance_zygotes: set[subprocess.Popen[bytes]] = set()
        """Sandboxed zygotes that became an instance's parent: they live as long as it."""
        self.crashes = 0
        self.started_zygotes = 0
        self.failed_starts = 0
        self.spawned = 0
        self.fallbacks = 0
        self.last_ready: dict[str, Any] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the refill thread (it starts zygotes until ``size`` live, see
        :meth:`_start_batch`);
        a pool of sandboxed zygotes first sweeps the slots a crashed service left."""
        if self._thread is not None or self.size <= 0:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.boxed is not None:
            swept = self.boxed.sweep()
            if swept:
                log.info("swept %d sandbox slots left by a service that is gone", swept)
        self._thread = threading.Thread(target=self._refill, name="warm-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End every zygote (EOF on its channel, SIGKILL after a grace period) and wait;
        a zygote still starting sees its channel end too, and exits at once."""
        with self._cond:
            self._stopping = True
            channels = [z.channel for z in self._zygotes] + list(self._starting)
            processes = [p for p in self._processes if p not in self._instance_zygotes]
            self._cond.notify_all()
        self._stop_event.set()
        for channel in channels:
            with contextlib.suppress(OSError):
                channel.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + ZYGOTE_STOP_SECONDS
        for process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process)
                process.wait()
        if self._thread is not None:
            self._thread.join()
        for reader in list(self._readers):
            reader.join()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until ``size`` zygotes are live and idle; whether they are."""
        return self.wait_for(lambda: len(self._idle()) >= self.size, timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate`` (called under the pool's lock, after every change of
        the pool's state) is true; whether it became true within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return False
                self._cond.wait(remaining)
            return True

    def _idle(self) -> list[_Zygote]:
        return [z for z in self._zygotes if z.alive and not z.busy]

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot: zygote pids, counters, the last zygote's preload result."""
        with self._cond:
            zygotes = [
                {
                    "pid": z.pid,
                    "busy": z.busy,
                    "spawned": z.spawned,
                    "threads": z.threads,
                    "os_threads": z.os_threads,
                }
                for z in self._zygotes
                if z.alive
            ]
            return {
                "enabled": True,
                "sandbox": self.sandbox_kind,
                "size": self.size,
                "python": self.python,
                "zygotes": zygotes,
                "ready": len(zygotes),
                "started_zygotes": self.started_zygotes,
                "failed_starts": self.failed_starts,
                "crashes": self.crashes,
                "spawned": self.spawned,
                "fallbacks": self.fallbacks,
                "preload": self.last_ready,
            }

    @property
    def sandbox_kind(self) -> str:
        """How forked instances are sandboxed: ``in-place``, ``zygotes`` or ``none``."""
        if self.in_place is not None:
            return "in-place"
        return "zygotes" if self.boxed is not None else "none"

    def zygote_pids(self) -> list[int]:
        """The pids of the live zygotes."""
        with self._cond:
            return [z.pid for z in self._zygotes if z.alive]

    # -- spawning -------------------------------------------------------------------------

    def spawn(
        self,
        host: str,
        spec_path: Path,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        box: InstanceBox | None = None,
    ) -> ForkedInstanceHandle | None:
        """Fork one instance from an idle zygote; ``None`` when no zygote could (the caller
        then starts the instance cold: no copy of it runs). A pool of sandboxed zygotes
        forks only instances whose ``box`` its slots fit; a pool that sandboxes in place
        only instances with a ``box``."""
        if self.boxed is not None and (box is None or not self.boxed.accepts(box)):
            self._count_fallback()
            return None
        sandbox: InPlaceSandbox | None = None
        if self.in_place is not None:
            if box is None:
                self._count_fallback()
                return None
            try:
                sandbox = self._sandbox_in_place(box)
            except (OSError, PlanError) as exc:
                log.warning("cannot sandbox %s of a warm start: %s", host, exc)
                self._count_fallback()
                return None
            cwd = Path(CONTAINER_ROOT)
        zygote = self._acquire(host if self.boxed is not None else None)
        if zygote is None:
            self._count_fallback()
            if sandbox is not None:
                sandbox.forget()
            return None
        handle: ForkedInstanceHandle | None = None
        try:
            if self.boxed is not None and box is not None and zygote.slot is not None:
                try:
                    self.boxed.install(zygote.slot, box, log_path)
                except (OSError, SlotUnusable) as exc:
                    log.warning("zygote %d cannot take %s: %s", zygote.pid, host, exc)
                    self._count_fallback()
                    return None
                cwd = Path(CONTAINER_ROOT)
                self._retire(zygote)
            zygote.pending = (host, str(exit_file))
            command = {
                "op": "spawn",
                "spec": str(spec_path),
                "env": env,
                "cwd": str(cwd),
                "log": str(log_path),
                "exit_file": str(exit_file),
                "python": self.python,
                "die_with_zygote": self.die_with_zygote,
            }
            if self.boxed is not None and box is not None:
                command["links"] = self.boxed.links(box)
            if sandbox is not None:
                if box is not None and exit_file.is_relative_to(box.instance_dir):
                    inside = Path(CONTAINER_ROOT) / exit_file.relative_to(box.instance_dir)
                    command["exit_file"] = str(inside)  # where the sandboxed instance sees it
                command.update(sandbox.command_fields())
            try:
                send_message(zygote.channel, command)
                reply = zygote.replies.get(timeout=SPAWN_REPLY_TIMEOUT_SECONDS)
            except OSError:
                reply = None
            except queue.Empty:
                log.warning("zygote %d did not answer a spawn; killing it", zygote.pid)
                _kill_group(zygote.process)
                reply = None
            if isinstance(reply, ForkedInstanceHandle):
                with self._cond:
                    self.spawned += 1
                    zygote.spawned += 1
                if sandbox is not None and sandbox.cgroup is not None:
                    reply.cgroup = sandbox.cgroup
                handle = reply
                return reply
            if reply is not None:
                log.warning("zygote %d could not fork %s: %s", zygote.pid, host, reply)
            if zygote.used:
                _kill_group(zygote.process)  # a one-shot zygote that forked nothing: end it
            self._count_fallback()
            return None
        finally:
            if handle is None and sandbox is not None:
                sandbox.forget()
            with self._cond:
                zygote.pending = None
                zygote.busy = False
                self._cond.notify_all()

    def _sandbox_in_place(self, box: InstanceBox) -> InPlaceSandbox:
        """What a spawn command carries for an instance that sandboxes itself: the
        ``bwrap`` command line of its sandbox (checked here: a plan the instance could not
        carry out starts it cold instead) and its new cgroup's ``cgroup.procs`` files."""
        assert self.in_place is not None
        extra = foreign_package_path(self.python)  # a requirements job re-executes from it
        argv = self.in_place.sandbox.wrap([], replace(box, runtime=(*box.runtime, *extra)))
        BoxPlan.from_bwrap_argv(argv)
        cgroup: InstanceCgroup | None = None
        if self.in_place.cgroups is not None:
            cgroup = self.in_place.cgroups.create(box.name, box.memory_bytes, box.pids_max)
        return InPlaceSandbox(tuple(argv), cgroup)

    def _retire(self, zygote: _Zygote) -> None:
        """A sandboxed zygote takes its one instance: the refill thread replaces it; it
        stays the instance's parent (and reports its exit) until the instance ends."""
        with self._cond:
            zygote.used = True
            if zygote in self._zygotes:
                self._zygotes.remove(zygote)
            self._instance_zygotes.add(zygote.process)
            self._cond.notify_all()

    def _count_fallback(self) -> None:
        with self._cond:
            self.fallbacks += 1

    def _acquire(self, host: str | None) -> _Zygote | None:
        """An idle zygote (with a slot for ``host`` when given), marked busy."""
        deadline = time.monotonic() + IDLE_WAIT_SECONDS

        def fits(zygote: _Zygote) -> bool:
            return host is None or (zygote.slot is not None and zygote.slot.host == host)

        with self._cond:
            while not self._stopping:
                live = [z for z in self._zygotes if z.alive and fits(z)]
                idle = [z for z in self._idle() if fits(z)]
                if idle:
                    chosen = min(idle, key=lambda z: z.spawned)
                    chosen.busy = True
                    return chosen
                remaining = deadline - time.monotonic()
                if not live or remaining <= 0:
                    return None
                self._cond.wait(remaining)
        return None

    # -- one reader thread per zygote -----------------------------------------------------

    def _read(self, zygote: _Zygote) -> None:
        try:
            while True:
                message = recv_message(zygote.channel)
                op = message.get("op")
                if op == "spawned":
                    self._spawned(zygote, message)
                elif op == "error":
                    zygote.replies.put(str(message.get("message", "unknown error")))
                elif op == "exit":
                    self._exited(zygote, int(message["pid"]), int(message["code"]))
                else:
                    log.error("zygote %d sent a message of unknown op: %.200r", zygote.pid, message)
        except ChannelClosed as exc:
            if str(exc) != END_OF_FILE:
                log.error("zygote %d broke its channel: %s", zygote.pid, exc)
        except OSError as exc:
            if not self._stopping:
                log.error("zygote %d: its channel failed: %s", zygote.pid, exc)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("zygote %d sent a malformed message (%r); dropping it", zygote.pid, exc)
        finally:
            self._lost(zygote)

    def _spawned(self, zygote: _Zygote, message: dict[str, Any]) -> None:
        host, exit_file = zygote.pending or ("algo-1", "")
        handle = ForkedInstanceHandle(
            host=host,
            pid=int(message["pid"]),
            start_time=int(message["start_time"]),
            exit_file=exit_file,
        )
        if zygote.slot is not None:
            # Its pid is the sandbox's (the outer bwrap: its process group holds the
            # instance, and the sandbox lives exactly as long as the instance).
            handle.pid = zygote.pid
            handle.start_time = process_start_time(zygote.pid) or -1
            handle.cgroup = zygote.slot.cgroup
        with self._cond:
            zygote.children[int(message["pid"])] = handle
        zygote.replies.put(handle)

    def _exited(self, zygote: _Zygote, pid: int, code: int) -> None:
        with self._cond:
            handle = zygote.children.pop(pid, None)
        if handle is None:
            return
        handle.reported_code = code
        if self.on_exit is not None:
            self.on_exit(handle.pid)

    def _lost(self, zygote: _Zygote) -> None:
        """The zygote's channel ended: forget it (its children fall back to /proc and their
        exit files), reap it, and let the refill thread replace it."""
        with self._cond:
            zygote.alive = False
            if zygote in self._zygotes:
                self._zygotes.remove(zygote)
            zygote.children.clear()
            if not self._stopping and not zygote.used:
                self.crashes += 1
            self._cond.notify_all()
        zygote.replies.put(None)
        with contextlib.suppress(OSError):
            zygote.channel.close()
        if zygote.used and self._stopping:
            return  # its sandbox is its instance's: it runs on (the next start re-attaches)
        if not zygote.used:
            _kill_group(zygote.process)
        zygote.process.wait()
        if zygote.slot is not None and not zygote.used:
            zygote.slot.discard()
        elif zygote.slot is not None and zygote.slot.cgroup is not None:
            zygote.slot.cgroup.remove()  # the instance's: its supervisor may have been first
        with self._cond:
            self._processes.discard(zygote.process)
            self._instance_zygotes.discard(zygote.process)
        if not self._stopping and not zygote.used:
            log.warning("zygote %d ended; starting a replacement", zygote.pid)
