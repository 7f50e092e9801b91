"""A request's line and headers, read from the ASGI scope before any of its body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridjobs.wire.messages import WireRequest


@dataclass(frozen=True)
class RequestHead:
    """What is known of a request before its body is read.

    ``raw_path`` is the path exactly as sent (percent-encoded, no query) and
    ``query_string`` the raw query; ``headers`` maps lower-case names to the last value
    sent, ``header_list`` keeps every (lower-case name, value) pair in order.
    """

    method: str
    raw_path: str
    query_string: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    header_list: list[tuple[str, str]]

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> RequestHead:
        """The head of the ASGI HTTP request ``scope``."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query_string = scope.get("query_string", b"").decode("latin-1")
        pairs = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        return cls(
            method=scope["method"],
            raw_path=raw_path.decode("latin-1").split("?", 1)[0],
            query_string=query_string,
            query=WireRequest.parse_query(query_string),
            headers=dict(pairs),
            header_list=pairs,
        )

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    @property
    def content_length(self) -> int | None:
        """The declared ``Content-Length``, or ``None`` when absent or not a number (the
        HTTP parser has already refused a malformed one)."""
        text = self.headers.get("content-length", "").strip()
        return int(text) if text.isdigit() else None

    def url(self, query_string: str | None = None) -> str:
        """``http://<host><path as sent>[?<query>]`` (the query as sent unless given)."""
        query = self.query_string if query_string is None else query_string
        return f"http://{self.host}{self.raw_path}" + (f"?{query}" if query else "")
