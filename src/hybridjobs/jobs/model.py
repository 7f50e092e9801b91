"""The Job, its statuses and events, and the one transition table that governs them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """The primary status of a job (``JobPrimaryStatus`` in the model)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


class JobEventType(StrEnum):
    """Event types of ``JobEventDetails``."""

    WAITING_FOR_PRIORITY = "WAITING_FOR_PRIORITY"
    QUEUED_FOR_EXECUTION = "QUEUED_FOR_EXECUTION"
    STARTING_INSTANCE = "STARTING_INSTANCE"
    DOWNLOADING_DATA = "DOWNLOADING_DATA"
    RUNNING = "RUNNING"
    DEPRIORITIZED_DUE_TO_INACTIVITY = "DEPRIORITIZED_DUE_TO_INACTIVITY"
    UPLOADING_RESULTS = "UPLOADING_RESULTS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    MAX_RUNTIME_EXCEEDED = "MAX_RUNTIME_EXCEEDED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)
UNFINISHED_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING}
)

# The only status changes there are. Terminal statuses are final.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLING}),
    JobStatus.CANCELLING: frozenset({JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

# The event recorded when a job enters a terminal status.
TERMINAL_EVENTS: dict[JobStatus, JobEventType] = {
    JobStatus.COMPLETED: JobEventType.COMPLETED,
    JobStatus.FAILED: JobEventType.FAILED,
    JobStatus.CANCELLED: JobEventType.CANCELLED,
}

MAX_FAILURE_REASON = 1024
MAX_EVENT_MESSAGE = 2500


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """The statuses from which ``target`` may be entered."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def utcnow() -> datetime.datetime:
    """The current time as an aware UTC datetime."""
    return datetime.datetime.now(tz=datetime.UTC)


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's event history."""

    event_type: JobEventType
    time: datetime.datetime
    message: str = ""


@dataclass
class Job:
    """A hybrid job as the service stores it.

    ``definition`` is the CreateJob request (wire member names) with defaults filled in and
    without ``clientToken`` and ``tags``; GetJob echoes it. ``owner`` and ``heartbeat_at``
    belong to the scheduler that claimed the job; ``runner_state`` is the runner's record
    of what it started (process ids and start times) so a restarted service can re-attach.
    """

    job_arn: str
    job_id: str
    account_id: str
    region: str
    job_name: str
    status: JobStatus
    device: str
    instance_type: str
    instance_count: int
    definition: dict[str, Any]
    created_at: datetime.datetime
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    failure_reason: str | None = None
    billable_duration_ms: int | None = None
    owner: str | None = None
    heartbeat_at: datetime.datetime | None = None
    runner_state: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    job_token: str | None = None
    """The secret the job's instances send as ``jobToken`` with their quantum tasks."""
    claim_epoch: int = 0
    """Raised by one at every claim of the job (admission, takeover): with ``owner``, the
    fencing token of the scheduler that runs it."""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def max_runtime_seconds(self) -> int:
        condition = self.definition.get("stoppingCondition") or {}
        return int(condition.get("maxRuntimeInSeconds", 432000))
