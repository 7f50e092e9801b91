"""The threads of a warm-pool zygote: every fork it makes is made single-threaded.

A zygote's imports may leave worker threads running (OpenBLAS, in numpy and scipy, starts
its pools at import), and forking a multi-threaded process copies only the forking thread
while the others' locks stay taken. :func:`quiesce_threads` ends the known ones before a
fork and names the rest; :func:`watch_for_orphaning` is the one thread a zygote runs of its
own, while it preloads, and is ended before the first fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path

BLAS_SHUTDOWN = "blas_thread_shutdown_"
"""OpenBLAS's own fork preparation: ends its worker threads (they start again on the next
BLAS call). numpy and scipy each load a copy, whose workers start at import."""


def os_threads() -> list[str]:
    """The names (``/proc/self/task/*/comm``) of this process's OS threads, main first."""
    names: list[str] = []
    for task in sorted(os.listdir("/proc/self/task"), key=lambda t: (t != str(os.getpid()), t)):
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
    return names


def watch_for_orphaning(channel: socket.socket) -> Callable[[], None]:
    """While this zygote preloads and warms up (seconds, before it reads its channel),
    end it (exit 0) as soon as the pool's end of ``channel`` closes: a service killed
    meanwhile leaves no zygote importing on for nothing. Returns ``stop``, to call before
    the zygote forks: it ends the watching thread and waits for it (every fork is made
    single-threaded). The pool sends nothing before ``ready``, so the channel turns
    readable only at its end."""
    stop_read, stop_write = os.pipe()

    def watch() -> None:
        readable, _, _ = select.select([channel.fileno(), stop_read], [], [])
        if stop_read in readable:
            return
        try:
            data = channel.recv(1, socket.MSG_PEEK)
        except OSError:
            data = b""
        if not data:
            os._exit(0)

    watcher = threading.Thread(target=watch, name="zygote-orphan-watch", daemon=True)
    watcher.start()

    def stop() -> None:
        os.write(stop_write, b"x")
        watcher.join()
        os.close(stop_read)
        os.close(stop_write)

    return stop


def quiesce_threads() -> list[str]:
    """End the worker threads imports left running, so that every fork is made by a
    single-threaded process; returns the threads still alive besides the main one (each
    as ``name`` or, for a Python thread, ``python:name``). Only OpenBLAS's pools are known
    to start at import; they are stopped through their :data:`BLAS_SHUTDOWN`."""
    if len(os.listdir("/proc/self/task")) > 1:
        for library in _loaded_libraries("openblas"):
            with contextlib.suppress(OSError, AttributeError):
                getattr(ctypes.CDLL(library), BLAS_SHUTDOWN)()
    others = os_threads()[1:]
    python = [f"python:{t.name}" for t in threading.enumerate() if t is not threading.main_thread()]
    return python + others[len(python) :]


def _loaded_libraries(fragment: str) -> list[str]:
    """The shared objects mapped into this process whose file name contains ``fragment``."""
    found: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split(maxsplit=5)[-1].strip() if line.count(" ") >= 5 else ""
            if fragment in os.path.basename(path).lower() and path not in found:
                found.append(path)
    return found
