"""The warm pool's refill thread: it starts zygotes until the pool holds ``size`` of them.

:class:`ZygoteStarter` is the part of :class:`~hybridjobs.runners.warmpool.WarmPool` that
starts zygotes: one at a time (reusable zygotes on the host), or one per missing host name
side by side (sandboxed one-shot zygotes, see :mod:`hybridjobs.runners.boxedzygote`), with
a growing delay after a failed start. A started zygote is handed to the pool's reader
thread (``_read``). The state it uses is the pool's, created by ``WarmPool.__init__``.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

from hybridjobs.runners.boxedzygote import BoxedZygotes, Slot, slot_hosts
from hybridjobs.runners.channel import ChannelClosed, recv_message
from hybridjobs.runners.warmparts import _kill_group, _Zygote, zygote_environment
from hybridjobs.sandbox.select import Confinement

log = logging.getLogger("hybridjobs.runners.warmpool")

ZYGOTE_READY_TIMEOUT_SECONDS = 300.0
"""How long a zygote may take to import its preload list before it is given up."""
_RETRY_SECONDS = (1.0, 5.0, 30.0, 120.0)


class ZygoteStarter:
    """The refill thread of :class:`~hybridjobs.runners.warmpool.WarmPool` (a base class
    of it): the attributes below are the pool's, set by its ``__init__``."""

    python: str
    size: int
    preload: list[str]
    log_dir: Path
    boxed: BoxedZygotes | None
    in_place: Confinement | None
    started_zygotes: int
    failed_starts: int
    last_ready: dict[str, Any]
    _cond: threading.Condition
    _zygotes: list[_Zygote]
    _processes: set[subprocess.Popen[bytes]]
    _starting: set[socket.socket]
    """The pool's ends of the channels of zygotes not ready yet (the pool's stop closes them:
    a zygote still preloading then exits at once)."""
    _readers: list[threading.Thread]
    _stopping: bool
    _stop_event: threading.Event
    _numbers: itertools.count[int]

    def _read(self, zygote: _Zygote) -> None:
        """Follow one zygote's channel until it ends (the pool's reader thread)."""
        raise NotImplementedError

    # -- the refill thread ----------------------------------------------------------------

    def _refill(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._stopping and len(self._zygotes) >= self.size:
                    self._cond.wait()
                if self._stopping:
                    return
            if self._start_batch():
                failures = 0
                continue
            failures += 1
            delay = _RETRY_SECONDS[min(failures, len(_RETRY_SECONDS)) - 1]
            if self._stop_event.wait(delay):
                return

    def _start_batch(self) -> bool:
        """Start the zygotes the pool lacks: one (reusable zygotes), or one per missing
        host name at once, up to one per CPU (sandboxed: a multi-instance job uses up
        several, and each takes seconds to import); whether all started."""
        if self.boxed is None:
            return self._start_zygote(None) is not None
        hosts = self._missing_hosts()[: max(1, os.cpu_count() or 1)]
        if len(hosts) <= 1:
            return self._start_zygote(hosts[0] if hosts else None) is not None
        started: list[_Zygote | None] = []

        def start(host: str) -> None:
            started.append(self._start_zygote(host))

        threads = [
            threading.Thread(target=start, args=(h,), name=f"warm-pool-{h}", daemon=True)
            for h in hosts
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return all(z is not None for z in started)

    def _start_zygote(self, host: str | None) -> _Zygote | None:
        number = next(self._numbers)
        ours, theirs = socket.socketpair()
        log_file = self.log_dir / f"zygote-{number}.log"
        command = [
            self.python,
            "-m",
            "hybridjobs.runners.zygote",
            "--fd",
            str(theirs.fileno()),
            "--pool",
            str(self.log_dir.resolve()),
            "--preload",
            *self.preload,
        ]
        if self.in_place is not None:
            command.append("--sandbox-ahead")  # each embryo's sandbox made before its order
        slot: Slot | None = None
        pass_fds = [theirs.fileno()]
        try:
            if self.boxed is not None:
                slot = self.boxed.new_slot(number, host or self._missing_hosts()[0])
                command += ["--once", "--log-fd", str(slot.log_fd)]
                command = self.boxed.wrap(command, slot)
                pass_fds.append(slot.log_fd)
            with open(log_file, "ab") as out:
                process = subprocess.Popen(
                    command,
                    env=zygote_environment(self.python),
                    cwd="/",
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=pass_fds,
                    preexec_fn=slot.cgroup.join if slot and slot.cgroup else None,
                )
        except OSError as exc:
            log.error("could not start a zygote (%s): %s", self.python, exc)
            ours.close()
            theirs.close()
            if slot is not None:
                slot.close_log()
                slot.discard()
            with self._cond:
                self.failed_starts += 1
            return None
        finally:
            theirs.close()
        if slot is not None:
            slot.close_log()  # the zygote holds it now
        with self._cond:
            self._processes.add(process)
            self._starting.add(ours)
            stopping = self._stopping
        if stopping:
            _kill_group(process)
        try:
            ours.settimeout(ZYGOTE_READY_TIMEOUT_SECONDS)
            ready = recv_message(ours)
            ours.settimeout(None)
            if ready.get("op") != "ready":
                raise ChannelClosed(f"unexpected first message {ready!r}")
        except (ChannelClosed, OSError, ValueError) as exc:
            with self._cond:
                self._starting.discard(ours)
            ours.close()
            _kill_group(process)
            process.wait()
            if slot is not None:
                slot.discard()
            with self._cond:
                self._processes.discard(process)
                self.failed_starts += 1
            if not self._stopping:
                log.error("zygote %d failed to start (%s); see %s", number, exc, log_file)
            return None
        zygote = _Zygote(
            number=number,
            process=process,
            channel=ours,
            pid=process.pid,
            loaded=[str(m) for m in ready.get("loaded", [])],
            failed={str(k): str(v) for k, v in dict(ready.get("failed", {})).items()},
            threads=int(ready.get("threads", 0)),
            os_threads=int(ready.get("os_threads", 0)),
            warmed=[str(w) for w in ready.get("warmed", [])],
            slot=slot,
        )
        if zygote.failed:
            log.info("zygote %d could not preload: %s", zygote.pid, zygote.failed)
        reader = threading.Thread(
            target=self._read, args=(zygote,), name=f"zygote-{number}", daemon=True
        )
        with self._cond:
            self._starting.discard(ours)
            if self._stopping:
                ours.close()
                if slot is not None:
                    _kill_group(process)
                    slot.discard()
                return None
            self._zygotes.append(zygote)
            self._readers.append(reader)
            self.started_zygotes += 1
            self.last_ready = {
                "loaded": zygote.loaded,
                "failed": zygote.failed,
                "warmed": zygote.warmed,
            }
            self._cond.notify_all()
        reader.start()
        return zygote

    def _missing_hosts(self) -> list[str]:
        """The host names of :func:`slot_hosts` no live zygote's slot is for (in order;
        never empty: a pool with a slot for every host name starts another ``algo-1``)."""
        with self._cond:
            taken = {z.slot.host for z in self._zygotes if z.alive and z.slot is not None}
        hosts = slot_hosts(self.size)
        return [h for h in hosts if h not in taken] or hosts[:1]
