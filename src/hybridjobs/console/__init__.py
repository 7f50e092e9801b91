"""The web console at ``/console/``: jobs, a job's logs, metrics and results, quantum tasks
and devices, served by the service on its own port.

:class:`LazyConsole` is what the service mounts: it builds the Starlette app (and imports
Jinja2 and the pages) on the first console request, so a service nobody browses pays
nothing at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONSOLE_PATH = "/console/"


class LazyConsole:
    """An ASGI app that builds the console with ``factory`` when first called."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def _built(self) -> ASGIApp:
        with self._lock:
            if self._app is None:
                self._app = self._factory()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or self._built()
        await app(scope, receive, send)


def is_console_path(path: str) -> bool:
    return path == "/console" or path.startswith(CONSOLE_PATH)
