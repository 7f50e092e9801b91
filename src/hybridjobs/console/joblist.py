"""The jobs list: the console's filters as a SearchJobs request, and its rows.

Everything comes from :meth:`JobService.search_jobs` (keyset pages in the store: newest
first with the API's own ``nextToken``, or sorted by ``sort`` and filtered by a tag through
the same domain search, with tokens bound to that search) and :meth:`JobService.get_job`
for the columns a search summary lacks (instances, billable time).

``sort`` is ``created``, ``name`` or ``status``, with a leading ``-`` for descending;
``-created`` (newest first) is the default.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.errors import ResourceNotFoundException, ValidationException
from hybridjobs.jobs.listorder import SearchOrder
from hybridjobs.jobs.model import JobStatus
from hybridjobs.jobs.ports import ORDER_KEYS, TagMatch
from hybridjobs.jobs.service import Caller, JobService

PAGE_SIZE = 25
DEFAULT_SORT = "-created"
SORTS = [f"{sign}{key}" for key in ORDER_KEYS for sign in ("", "-")]
STATUSES = [status.value for status in JobStatus]


@dataclass(frozen=True)
class ListQuery:
    """What the jobs list shows: its filters (empty strings mean no filter) and page token."""

    status: str = ""
    name: str = ""
    device: str = ""
    created_after: str = ""
    created_before: str = ""
    tag: str = ""
    sort: str = ""
    token: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ListQuery:
        return cls(**{name: params.get(name, "").strip() for name in cls.__dataclass_fields__})

    def filters(self) -> list[dict[str, Any]]:
        """The SearchJobs filters of this query (ValidationException, here or from
        search_jobs, names a bad one)."""
        filters: list[dict[str, Any]] = []
        if self.status and self.status not in STATUSES:
            raise ValidationException(
                f"status: {self.status!r} is not one of: {', '.join(STATUSES)}"
            )
        if self.status:
            filters.append({"name": "status", "operator": "EQUAL", "values": [self.status]})
        if self.name:
            filters.append({"name": "jobName", "operator": "CONTAINS", "values": [self.name]})
        if self.device:
            filters.append({"name": "deviceArn", "operator": "EQUAL", "values": [self.device]})
        if self.created_after:
            filters.append(
                {"name": "createdAt", "operator": "GTE", "values": [rfc3339(self.created_after)]}
            )
        if self.created_before:
            filters.append(
                {"name": "createdAt", "operator": "LTE", "values": [rfc3339(self.created_before)]}
            )
        return filters

    def tag_matches(self) -> list[TagMatch]:
        """The tag filter (``key`` or ``key=value``) as a search condition; none without."""
        if not self.tag:
            return []
        key, equals, value = self.tag.partition("=")
        return [TagMatch(key.strip(), value.strip() if equals else None)]

    def order(self) -> SearchOrder | None:
        """The list's order; None for the default (the API's own newest-first search)."""
        sort = self.sort or DEFAULT_SORT
        if sort not in SORTS:
            raise ValidationException(f"sort: {sort!r} is not one of: {', '.join(SORTS)}")
        if sort == DEFAULT_SORT:
            return None
        return SearchOrder(sort.lstrip("-"), descending=sort.startswith("-"))

    def sort_state(self, key: str) -> str:
        """``aria-sort`` of the column of ``key``: ascending, descending or none."""
        current = self.sort or DEFAULT_SORT
        if current.lstrip("-") != key:
            return "none"
        return "descending" if current.startswith("-") else "ascending"

    def sort_link(self, key: str) -> str:
        """The ``sort`` a column header links to: ``key`` ascending, or descending when
        the list is sorted by ``key`` ascending now (newest first for ``created``)."""
        current = self.sort or DEFAULT_SORT
        if key == "created":
            return "created" if current == "-created" else "-created"
        return f"-{key}" if current == key else key

    def params(self, **changes: str) -> dict[str, str]:
        """This query's non-empty fields (with ``changes``), for links."""
        merged = {name: getattr(self, name) for name in self.__dataclass_fields__}
        merged.update(changes)
        return {k: v for k, v in merged.items() if v}


def rfc3339(value: str, field: str = "") -> str:
    """A ``datetime-local`` input (``2026-12-02T10:30``, taken as UTC) or an RFC 3339
    date-time as RFC 3339; anything else unchanged (SearchJobs names it), or with
    ``field`` a ValidationException naming that field."""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        if field:
            raise ValidationException(
                f"{field}: {value!r} is not a date and time (YYYY-MM-DDTHH:MM, UTC)"
            ) from None
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.isoformat()


@dataclass
class JobRow:
    """One row of the list."""

    arn: str
    job_id: str
    name: str
    status: str
    device: str
    instances: str
    created: datetime.datetime
    started: datetime.datetime | None
    ended: datetime.datetime | None
    billable_ms: int | None
    failure_reason: str | None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if self.started is None:
            return None
        end = self.ended or datetime.datetime.now(datetime.UTC)
        return max((end - self.started).total_seconds(), 0.0)


@dataclass
class JobPage:
    rows: list[JobRow]
    next_token: str | None


def job_page(jobs: JobService, caller: Caller, query: ListQuery) -> JobPage:
    """One page of the list (ValidationException for a bad filter, sort or token)."""
    params: dict[str, Any] = {"filters": query.filters(), "maxResults": PAGE_SIZE}
    if query.token:
        params["nextToken"] = query.token
    answer = jobs.search_jobs(caller, params, order=query.order(), tags=query.tag_matches())
    return JobPage(_rows(jobs, caller, answer["jobs"]), answer.get("nextToken"))


def _rows(jobs: JobService, caller: Caller, summaries: list[dict[str, Any]]) -> list[JobRow]:
    rows = []
    for summary in summaries:
        try:
            job = jobs.get_job(caller, {"jobArn": summary["jobArn"]})
        except ResourceNotFoundException:
            continue
        rows.append(row_of(job))
    return rows


def row_of(job: dict[str, Any]) -> JobRow:
    """The list row of a GetJob answer."""
    config = job["instanceConfig"]
    return JobRow(
        arn=job["jobArn"],
        job_id=job["jobArn"].rsplit("/", 1)[-1],
        name=job["jobName"],
        status=job["status"],
        device=job["deviceConfig"]["device"],
        instances=f"{config.get('instanceCount', 1)} x {config['instanceType']}",
        created=job["createdAt"],
        started=job.get("startedAt"),
        ended=job.get("endedAt"),
        billable_ms=job.get("billableDuration"),
        failure_reason=job.get("failureReason"),
        tags=job.get("tags") or {},
    )
