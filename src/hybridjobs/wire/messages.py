"""Transport-neutral request and response values passed between the ASGI app and services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass
class WireRequest:
    """One HTTP request as the services see it.

    ``raw_path`` is the path exactly as sent (still percent-encoded: ARNs arrive as one
    ``%2F``-encoded segment); ``query`` maps each key to all its values in order; header
    names are lower-case.
    """

    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    region: str
    access_key: str | None = None
    account_id: str = "000000000000"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    operation: str = ""
    """The model's name of the operation, set by the service once it has resolved it
    (for the access log and the metrics)."""

    @staticmethod
    def parse_query(query_string: str) -> dict[str, list[str]]:
        """Split a raw query string into a multi-valued dict, keeping blank values."""
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        return query


@dataclass
class WireResponse:
    """An HTTP response ready to send."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
