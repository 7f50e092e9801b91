"""A whole hybridjobs service inside this process, for ``hybridjobs demo``.

:class:`EmbeddedService` builds the service with :func:`hybridjobs.server.build_service`
on a free loopback port and a data directory of its own, serves it with uvicorn in a
background thread, and stops everything it started (the scheduler stops the jobs'
instance processes) in :meth:`stop`. Clients still reach it only over HTTP.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HEALTH_PATH = "/_hybridjobs/health"
STATUS_PATH = "/_hybridjobs/status"
START_DEADLINE_SECONDS = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_healthy(endpoint: str, timeout: float = 1.0) -> bool:
    """Whether a hybridjobs service answers ``GET /_hybridjobs/health`` at ``endpoint``."""
    try:
        with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class EmbeddedService:
    """The service on ``127.0.0.1:<free port>`` with its data in ``data_dir``."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        from hybridjobs.settings import Settings

        self.port = free_port()
        self.settings = Settings(
            host="127.0.0.1",
            port=self.port,
            data_dir=data_dir,
            db_url=None,
            objects=None,
            s3_endpoint_url=None,
            credentials={},
            run_scheduler=True,
            **{"task_workers_prestart": False, **settings},
        )
        self.endpoint = self.settings.endpoint_url
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._service: Any = None

    def start(self) -> None:
        """Serve in a background thread; returns once the health check answers."""
        import uvicorn

        from hybridjobs.server import build_service

        logging.getLogger("hybridjobs").setLevel(logging.WARNING)
        self._service = build_service(self.settings)
        config = uvicorn.Config(
            self._service.app,
            host=self.settings.host,
            port=self.port,
            log_level="error",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._service.start_background()
        self._thread = threading.Thread(
            target=self._server.run, name="hybridjobs-demo", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not is_healthy(self.endpoint, timeout=0.5):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the embedded service did not start on {self.endpoint}")
            time.sleep(0.05)  # uvicorn offers no start-up event to wait on from another thread

    def wait_warm(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the warm instance pool is full, so the demo's
        instances fork from a zygote instead of importing the SDKs cold; whether it is."""
        url = f"{self.endpoint}{STATUS_PATH}?wait={timeout:g}"
        try:
            with urllib.request.urlopen(url, timeout=timeout + 5) as response:
                status = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        pool = status.get("warm_pool") or {}
        return bool(pool.get("enabled")) and pool.get("ready", 0) >= pool.get("size", 1)

    def stop(self) -> None:
        """Stop serving, then stop the scheduler (and with it every instance process)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._service is not None:
            self._service.stop_background()
            self._service = None

    def __enter__(self) -> EmbeddedService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
