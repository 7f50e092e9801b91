"""One task worker process (``python -m hybridjobs.engines.worker``) and its pipe.

The process runs in its own session with a clean environment (no service secrets), so it
can be killed with its whole process group: that is how a RUNNING task is cancelled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

from hybridjobs.engines.base import EngineRequest
from hybridjobs.engines.worker import read_frame, write_frame

log = logging.getLogger(__name__)

_PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_PASSED_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_")


class WorkerDied(Exception):
    """The worker process ended before it answered (killed, out of memory, crashed)."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(returncode)
        self.returncode = returncode


def worker_environment(source: dict[str, str]) -> dict[str, str]:
    """The variables a worker gets: locale, paths and math-library tuning, nothing else."""
    env = {k: v for k, v in source.items() if k in _PASSED_VARIABLES}
    env.update({k: v for k, v in source.items() if k.startswith(_PASSED_PREFIXES)})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    """A worker started on first use (or by :meth:`start`) and again after it died.

    ``arguments`` are the worker's command-line options (its engine limits).
    """

    def __init__(self, python: str, arguments: Sequence[str] = ()) -> None:
        self.python = python
        self.arguments = list(arguments)
        self._popen: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the process now (it warms up on its own) instead of at the first task."""
        self._started()

    def is_running(self) -> bool:
        """Whether the process has been started and has not ended (or been stopped)."""
        with self._lock:
            return self._popen is not None and self._popen.poll() is None

    def _started(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._popen is None or self._popen.poll() is not None:
                self._popen = subprocess.Popen(
                    [self.python, "-m", "hybridjobs.engines.worker", *self.arguments],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=worker_environment(dict(os.environ)),
                    start_new_session=True,
                    close_fds=True,
                )
                log.info("task worker started: pid %d", self._popen.pid)
            return self._popen

    def run(self, request: EngineRequest) -> tuple[str, Any]:
        """Send ``request`` and wait for the reply; WorkerDied when the process ended."""
        popen = self._started()
        assert popen.stdin is not None and popen.stdout is not None
        try:
            write_frame(popen.stdin, request)
            reply: tuple[str, Any] = read_frame(popen.stdout)
        except (EOFError, BrokenPipeError, OSError) as exc:
            raise WorkerDied(self._reap(popen)) from exc
        return reply

    def _reap(self, popen: subprocess.Popen[bytes]) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
        for stream in (popen.stdin, popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return popen.returncode

    def kill(self) -> None:
        """Kill the process group (a task it runs ends with WorkerDied)."""
        with self._lock:
            popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)

    def stop(self, grace: float = 2.0) -> None:
        """End the process: close its input (an idle worker exits at once; one still
        warming up reads it only afterwards), kill it when it has not exited within
        ``grace`` seconds; reap it."""
        with self._lock:
            popen, self._popen = self._popen, None
        if popen is None:
            return
        if popen.stdin is not None:
            with contextlib.suppress(OSError):
                popen.stdin.close()
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
        if popen.stdout is not None:
            popen.stdout.close()
