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
from collections.abc import Mapping
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


def first_key(credentials: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first (access key, secret) of a ``HYBRIDJOBS_CREDENTIALS``-shaped mapping
    (``{key: secret}`` or ``{key: {"secret": ...}}``); ``None`` when it holds none."""
    for access_key, entry in credentials.items():
        secret = entry if isinstance(entry, str) else (entry or {}).get("secret")
        if isinstance(secret, str):
            return str(access_key), secret
    return None


def fetch_status(
    endpoint: str,
    wait: float = 0.0,
    key: tuple[str, str] | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The service's ``GET /_hybridjobs/status`` document; ``wait`` lets the service first
    wait (at most that many seconds) for its warm pool to fill.

    A service with keys configured answers its own paths only to signed requests, so with
    ``key`` (access key, secret) the request is SigV4-signed by botocore's ``SigV4Auth``
    (service ``braket``, ``region``); without, it goes unsigned (enough for a service
    without keys). Raises ``urllib.error.HTTPError`` (403) when the service refuses the
    signature, ``URLError``/``OSError`` when it does not answer.
    """
    url = f"{endpoint}{STATUS_PATH}?wait={wait:g}"
    headers: dict[str, str] = {}
    if key is not None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        signed = AWSRequest(method="GET", url=url)
        SigV4Auth(Credentials(*key), "braket", region).add_auth(signed)
        headers = dict(signed.headers.items())
    request = urllib.request.Request(url, headers=headers, method="GET")
    with urllib.request.urlopen(request, timeout=wait + 30) as response:
        document: dict[str, Any] = json.loads(response.read())
    return document


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
            run_scheduler=True,
            # an embedded service's jobs end with it (nothing would re-attach to them);
            # no keys unless given (then its own status requests are signed)
            **{
                "credentials": {},
                "task_workers_prestart": False,
                "stop_jobs_on_exit": True,
                **settings,
            },
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
        instances fork from a zygote instead of importing the SDKs cold; whether it is.
        The request is signed with the service's first operator key when it has keys."""
        try:
            status = fetch_status(
                self.endpoint, timeout, self.operator_key(), self.settings.default_region
            )
        except (urllib.error.URLError, OSError, ValueError):
            return False
        pool = status.get("warm_pool") or {}
        return bool(pool.get("enabled")) and pool.get("ready", 0) >= pool.get("size", 1)

    def operator_key(self) -> tuple[str, str] | None:
        """The first operator key (access key, secret) the service verifies signatures
        with (inline or from the credentials file); ``None`` when it has none."""
        from hybridjobs.accounts.keys import load_credentials

        keys = load_credentials(
            self.settings.credentials, self.settings.credentials_file, "000000000000"
        )
        return next(((key.access_key, key.secret) for key in keys.values()), None)

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
