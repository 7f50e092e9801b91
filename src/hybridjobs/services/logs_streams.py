"""Log streams of the Logs surface: naming, lookup in the job store, pagination tokens.

Every account has one log group, ``/aws/braket/jobs``. Each instance of a job that has
started is one stream, ``<jobName>/<jobId>/algo-<n>-<epoch seconds of startedAt>`` (spec
§3.6: the SDK looks streams up by the prefix ``<jobName>/<jobId>``). Streams are regional
and account-scoped, like the jobs behind them. Event times on the wire are epoch
milliseconds, floored, so one event always shows the same time.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hybridjobs.errors import ResourceNotFoundException, ServiceError
from hybridjobs.jobs.logstreams import LOG_GROUP, stream_name
from hybridjobs.jobs.model import Job
from hybridjobs.store.base import JobFilter, JobStore, LogEvent

MAX_EVENTS = 10000
_JOB_PAGE = 500
_STREAM_NAME = re.compile(r"(?P<name>[^/]+)/(?P<id>[^/]+)/(?P<instance>algo-\d+)-(?P<epoch>\d+)")
_UUID_LENGTH = 36


class InvalidParameterException(ServiceError):
    code = "InvalidParameterException"
    status = 400
    sender_fault = True


@dataclass(frozen=True)
class Stream:
    """One instance of a started job, seen as a log stream."""

    job: Job
    instance: str

    @property
    def name(self) -> str:
        return stream_name(self.job, self.instance)


def streams_of(job: Job) -> list[Stream]:
    """The job's streams, ``algo-1`` first; none before it starts."""
    if job.started_at is None:
        return []
    return [Stream(job, f"algo-{n}") for n in range(1, job.instance_count + 1)]


def millis(moment: datetime.datetime) -> int:
    """Epoch milliseconds, floored (the same event always gets the same value)."""
    return math.floor(moment.timestamp() * 1000)


def from_millis(value: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)


def encode_token(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode("ascii")


def decode_token(token: str, kind: str) -> dict[str, Any]:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidParameterException("The specified nextToken is invalid.") from exc
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise InvalidParameterException("The specified nextToken is invalid.")
    return document


class LogCatalog:
    """Finds the streams of one account and region in the job store."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def _jobs(self, account: str, region: str, filters: list[JobFilter]) -> Iterator[Job]:
        before: int | None = None
        while True:
            page = self.store.search_jobs(account, filters, _JOB_PAGE, before_seq=before)
            yield from (job for job in page if job.region == region)
            if len(page) < _JOB_PAGE:
                return
            before = page[-1].seq

    def _job(self, account: str, region: str, job_id: str) -> Job | None:
        job = self.store.get_job(f"arn:aws:braket:{region}:{account}:job/{job_id}")
        return job if job is not None and job.account_id == account else None

    def first_job(self, account: str, region: str) -> Job | None:
        """The account's oldest job in ``region`` (the last of a newest-first scan)."""
        oldest: Job | None = None
        for job in self._jobs(account, region, []):
            oldest = job
        return oldest

    def matching(self, account: str, region: str, prefix: str) -> list[Stream]:
        """The streams whose names start with ``prefix``, sorted by name."""
        parts = prefix.split("/")
        if len(parts) >= 2 and len(parts[1]) == _UUID_LENGTH:
            found = self._job(account, region, parts[1])
            jobs: list[Job] = [found] if found is not None else []
        elif len(parts) >= 2:
            jobs = list(self._jobs(account, region, [JobFilter("job_name", "EQUAL", (parts[0],))]))
        elif prefix:
            jobs = list(self._jobs(account, region, [JobFilter("job_name", "CONTAINS", (prefix,))]))
        else:
            jobs = list(self._jobs(account, region, []))
        streams = [s for job in jobs for s in streams_of(job) if s.name.startswith(prefix)]
        return sorted(streams, key=lambda s: s.name)

    def find(self, account: str, region: str, name: str) -> Stream:
        """The stream called ``name``; ResourceNotFoundException when there is none."""
        match = _STREAM_NAME.fullmatch(name)
        job = self._job(account, region, match["id"]) if match else None
        if match is not None and job is not None:
            stream = Stream(job, match["instance"])
            if job.started_at is not None and stream in streams_of(job) and stream.name == name:
                return stream
        raise ResourceNotFoundException("The specified log stream does not exist.")


def group_name(identifier: str) -> str:
    """The group name in a log group name or ARN (``...:log-group:<name>[:*]``)."""
    name = identifier.split(":log-group:", 1)[1] if ":log-group:" in identifier else identifier
    return name.removesuffix(":*")


def group_of(params: dict[str, Any]) -> str:
    """The log group a request names (by name or ARN); it must be ``/aws/braket/jobs``."""
    group = params.get("logGroupName") or params.get("logGroupIdentifier")
    if group is None:
        raise InvalidParameterException("Either logGroupName or logGroupIdentifier is required.")
    if group_name(group) != LOG_GROUP:
        raise ResourceNotFoundException("The specified log group does not exist.")
    return LOG_GROUP


def output_event(event: LogEvent) -> dict[str, Any]:
    """An event as GetLogEvents returns it (``ingestionTime``: when the service read it)."""
    stamp = millis(event.timestamp)
    return {"timestamp": stamp, "message": event.message, "ingestionTime": stamp}
