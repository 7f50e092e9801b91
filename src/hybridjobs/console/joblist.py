"""The jobs list: the console's filters as a SearchJobs request, and its rows.

Everything comes from :meth:`JobService.search_jobs` (keyset pages, newest first, the
same ``nextToken`` the API hands out) and :meth:`JobService.get_job` for the columns a
search summary lacks (instances, billable time). Tags are not a SearchJobs filter: a tag
filter keeps the matching jobs of up to ``TAG_SCAN_PAGES`` search pages, and says when it
stopped looking.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.errors import ResourceNotFoundException, ValidationException
from hybridjobs.jobs.model import JobStatus
from hybridjobs.jobs.service import Caller, JobService

PAGE_SIZE = 25
TAG_SCAN_PAGES = 40
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
                {"name": "createdAt", "operator": "GTE", "values": [_rfc3339(self.created_after)]}
            )
        if self.created_before:
            filters.append(
                {"name": "createdAt", "operator": "LTE", "values": [_rfc3339(self.created_before)]}
            )
        return filters

    def tag_pair(self) -> tuple[str, str | None] | None:
        """``key`` or ``key=value`` of the tag filter; None without one."""
        if not self.tag:
            return None
        key, equals, value = self.tag.partition("=")
        return key.strip(), value.strip() if equals else None

    def params(self, **changes: str) -> dict[str, str]:
        """This query's non-empty fields (with ``changes``), for links."""
        merged = {name: getattr(self, name) for name in self.__dataclass_fields__}
        merged.update(changes)
        return {k: v for k, v in merged.items() if v}


def _rfc3339(value: str) -> str:
    """A ``datetime-local`` input (``2026-12-02T10:30``, taken as UTC) or an RFC 3339
    date-time as RFC 3339; anything else unchanged (SearchJobs names it)."""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
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
    scanned_out: bool = False
    """A tag filter stopped after ``TAG_SCAN_PAGES`` pages with more jobs left."""


def job_page(jobs: JobService, caller: Caller, query: ListQuery) -> JobPage:
    """One page of the list (ValidationException for a bad filter or token)."""
    filters = query.filters()
    tag = query.tag_pair()
    token = query.token or None
    summaries: list[dict[str, Any]] = []
    scans = 0
    while True:
        params: dict[str, Any] = {"filters": filters, "maxResults": PAGE_SIZE}
        if token:
            params["nextToken"] = token
        answer = jobs.search_jobs(caller, params)
        scans += 1
        found = answer["jobs"]
        if tag is not None:
            found = [job for job in found if _has_tag(job["tags"], tag)]
        summaries.extend(found)
        token = answer.get("nextToken")
        if tag is None or token is None or len(summaries) >= PAGE_SIZE:
            break
        if scans >= TAG_SCAN_PAGES:
            return JobPage(_rows(jobs, caller, summaries), token, scanned_out=True)
    return JobPage(_rows(jobs, caller, summaries), token)


def _has_tag(tags: dict[str, str], pair: tuple[str, str | None]) -> bool:
    key, value = pair
    return key in tags and (value is None or tags[key] == value)


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
