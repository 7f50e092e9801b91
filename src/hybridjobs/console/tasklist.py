"""The quantum task list's filters as a SearchQuantumTasks request: status, device and
created after / before (a ``datetime-local`` input, taken as UTC). Empty strings mean no
filter; a bad value is named by a ValidationException (here or from the search)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridjobs.console.joblist import rfc3339
from hybridjobs.errors import ValidationException

TASK_STATUSES = ["CREATED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED"]


@dataclass(frozen=True)
class TaskQuery:
    """What the task list shows: its filters and page token."""

    status: str = ""
    device: str = ""
    created_after: str = ""
    created_before: str = ""
    token: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TaskQuery:
        return cls(**{name: params.get(name, "").strip() for name in cls.__dataclass_fields__})

    def search(self, page_size: int) -> dict[str, Any]:
        """The SearchQuantumTasks request of this query."""
        if self.status and self.status not in TASK_STATUSES:
            raise ValidationException(
                f"status: {self.status!r} is not one of: {', '.join(TASK_STATUSES)}"
            )
        filters: list[dict[str, Any]] = []
        if self.status:
            filters.append({"name": "status", "operator": "EQUAL", "values": [self.status]})
        if self.device:
            filters.append({"name": "deviceArn", "operator": "EQUAL", "values": [self.device]})
        for field, operator in (("created_after", "GTE"), ("created_before", "LTE")):
            value = getattr(self, field)
            if value:
                moment = rfc3339(value, field)
                filters.append({"name": "createdAt", "operator": operator, "values": [moment]})
        params: dict[str, Any] = {"filters": filters, "maxResults": page_size}
        if self.token:
            params["nextToken"] = self.token
        return params

    def params(self, **changes: str) -> dict[str, str]:
        """This query's non-empty fields (with ``changes``), for links."""
        merged = {name: getattr(self, name) for name in self.__dataclass_fields__}
        merged.update(changes)
        return {k: v for k, v in merged.items() if v}
