"""The order and the bounds of a service's shutdown.

On SIGTERM or SIGINT the service first *drains*: the scheduler stops (its jobs detach,
or with ``--stop-jobs-on-exit`` stop and end FAILED) while the API still answers, so the
instances' last uploads, log lines and status calls are not cut off. Only then does the
HTTP server stop (uvicorn's graceful shutdown, itself bounded), and last the store.
Every step runs under a timeout: a step that overruns is logged and left behind, and the
process exits anyway. A second signal during the drain stops the HTTP server at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


def bounded(step: Callable[[], None], timeout: float, name: str) -> bool:
    """Run ``step`` in a daemon thread for at most ``timeout`` seconds; whether it
    finished (an exception it raises is logged, and counts as finished)."""

    def run() -> None:
        try:
            step()
        except Exception:
            log.exception("shutdown step %r failed", name)

    thread = threading.Thread(target=run, name=f"shutdown-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        log.error(
            "shutdown step %r did not finish within %.0f s; going on without it", name, timeout
        )
        return False
    return True


class DrainingServer(uvicorn.Server):
    """A uvicorn server that, at the first shutdown signal, runs ``drain`` (bounded by
    ``timeout``) before it stops serving."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], None], timeout: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.timeout = timeout
        self._draining: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining is not None or self.should_exit:
            super().handle_exit(sig, frame)  # a second signal: stop serving now
            return
        log.info("shutting down: stopping the scheduler first, the API after it")
        self._draining = threading.Thread(
            target=self._drain_then_exit, name="shutdown-drain", daemon=True
        )
        self._draining.start()

    def _drain_then_exit(self) -> None:
        bounded(self.drain, self.timeout, "scheduler")
        self.should_exit = True
