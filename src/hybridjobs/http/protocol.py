"""uvicorn's httptools HTTP/1.1 protocol, with bounds on how a request's head arrives.

uvicorn bounds neither the time a client may take to send a request line and headers nor
their size (slow or endless headers hold a connection and memory). This protocol closes a
connection whose head is not complete ``header_timeout`` seconds after the connection
opened or the request began (``408``), or whose head grows beyond ``max_header_bytes``
(``431``). Bodies are bounded by the application (:mod:`hybridjobs.http.body`), which reads
them piece by piece; idle keep-alive connections by uvicorn's own keep-alive timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hybridjobs.http.limits import RequestLimits

_RESPONSES = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a head timeout and a head size limit (class
    attributes; :func:`guarded_protocol` makes a subclass with configured values)."""

    header_timeout: ClassVar[float] = RequestLimits.header_timeout
    max_header_bytes: ClassVar[int] = RequestLimits.max_header_bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._head_begun = False
        self._in_body = False
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_body:  # bytes up to the blank line that ends a head count
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self.max_header_bytes:
                self._refuse(431, answer=True)
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head()
        self._head_begun = True

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._in_body = True
        self._head_bytes = 0
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def _start_head(self) -> None:
        self._stop_head_timer()
        self._reading_head = True
        self._head_begun = False
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._reading_head:
            self._refuse(408)

    def _refuse(self, status: int, answer: bool = False) -> None:
        """Answer ``status`` and close the connection. Unless told to ``answer``, a
        connection on which no request has begun is closed silently (a client may be about
        to send one on it, and must not read this answer as the response to it); a
        response under way is never interrupted by another."""
        self._stop_head_timer()
        self._reading_head = False
        if self.transport is None or self.transport.is_closing():
            return
        idle = self.cycle is None or self.cycle.response_complete
        if (answer or self._head_begun) and idle:
            self.transport.write(
                _RESPONSES[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.transport.close()


def guarded_protocol(limits: RequestLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http`` setting, bounded by ``limits``."""
    return type(
        "ConfiguredHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout": limits.header_timeout, "max_header_bytes": limits.max_header_bytes},
    )
