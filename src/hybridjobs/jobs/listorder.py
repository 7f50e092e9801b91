"""Sorted job searches beyond SearchJobs: an order (created, name or status; either
direction), tag matches, and the opaque page tokens that resume them.

A token carries the (sort value, sequence) of the last job of its page and a digest of
the search it belongs to (the API filters, the order, the tag matches): a token used with
another search is refused with a ValidationException naming ``nextToken``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hybridjobs.errors import ValidationException
from hybridjobs.jobs.model import Job
from hybridjobs.jobs.ports import ORDER_KEYS, JobOrder, TagMatch


@dataclass(frozen=True)
class SearchOrder:
    """How a sorted search orders its jobs (``key`` one of :data:`ORDER_KEYS`)."""

    key: str = "created"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.key not in ORDER_KEYS:
            raise ValidationException(f"sort: {self.key!r} is not one of: {', '.join(ORDER_KEYS)}")

    def sort_value(self, job: Job) -> Any:
        """The value ``job`` is sorted by (None for ``created``: its sequence orders it)."""
        if self.key == "name":
            return job.job_name
        if self.key == "status":
            return job.status.value
        return None

    def store_order(self, after: tuple[Any, int] | None) -> JobOrder:
        return JobOrder(self.key, self.descending, after)


def _digest(filters: list[dict[str, Any]], order: SearchOrder, tags: Sequence[TagMatch]) -> str:
    search = {
        "filters": filters,
        "order": [order.key, order.descending],
        "tags": [[t.key, t.value] for t in tags],
    }
    return hashlib.sha256(json.dumps(search, sort_keys=True).encode()).hexdigest()[:16]


def encode_page_token(
    job: Job, filters: list[dict[str, Any]], order: SearchOrder, tags: Sequence[TagMatch]
) -> str:
    """A token resuming the search after ``job`` (exclusive)."""
    payload = {"v": order.sort_value(job), "seq": job.seq, "s": _digest(filters, order, tags)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_page_token(
    token: str, filters: list[dict[str, Any]], order: SearchOrder, tags: Sequence[TagMatch]
) -> tuple[Any, int]:
    """The (sort value, sequence) ``token`` resumes after; ValidationException when this
    service did not issue it for this search."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = (payload["v"], int(payload["seq"]))
        search = payload["s"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationException("nextToken: not a token this service issued") from exc
    if search != _digest(filters, order, tags):
        raise ValidationException("nextToken: it belongs to a search with other filters")
    if order.key != "created" and not isinstance(after[0], str):
        raise ValidationException("nextToken: not a token this service issued")
    return after
