"""Opaque, filter-bound ``nextToken`` values for keyset-paginated searches."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from hybridjobs.errors import ValidationException


def encode_token(seq: int, filters: list[dict[str, Any]]) -> str:
    """A token that resumes a search after the row with sequence ``seq`` (exclusive)."""
    payload = {
        "seq": seq,
        "filters": hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16],
    }
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_token(token: str, filters: list[dict[str, Any]]) -> int:
    """The sequence ``token`` resumes after; ValidationException when it is not one this
    service issued or it belongs to a search with other filters."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        seq = int(payload["seq"])
        expected = json.loads(base64.urlsafe_b64decode(encode_token(seq, filters).encode()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationException("nextToken: not a token this service issued") from exc
    if payload.get("filters") != expected["filters"]:
        raise ValidationException("nextToken: it belongs to a search with other filters")
    return seq
