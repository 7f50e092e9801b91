"""The QuantumTask, its statuses and the one transition table that governs them.

Tasks are jobs' smaller siblings: every status change is a compare-and-set against
:data:`TRANSITIONS`, terminal statuses are final. A task is stored QUEUED (``CREATED`` is
the instant before it is stored, never visible); a worker claims it (RUNNING), and it ends
COMPLETED, FAILED or CANCELLED. A cancel of a RUNNING task asks for CANCELLING; the worker
that runs it stops and records CANCELLED.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    """``QuantumTaskStatus`` of the model."""

    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


class QueuePriority(StrEnum):
    """Tasks sent from inside a hybrid job (they carry its token) run first."""

    NORMAL = "Normal"
    PRIORITY = "Priority"


TASK_TERMINAL_STATUSES: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.CREATED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.RUNNING: frozenset(
        {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLING, TaskStatus.QUEUED}
    ),
    TaskStatus.CANCELLING: frozenset({TaskStatus.CANCELLED}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}
"""RUNNING -> QUEUED happens only when a worker's owner died and the task is run again."""


def task_sources_of(target: TaskStatus) -> frozenset[TaskStatus]:
    """The statuses from which ``target`` may be entered."""
    return frozenset(s for s, targets in TASK_TRANSITIONS.items() if target in targets)


@dataclass
class QuantumTask:
    """A quantum task as the service stores it.

    ``action`` and ``device_parameters`` are the JSON strings of the request; results go
    to ``s3://<output_s3_bucket>/<output_s3_directory>/results.json``. ``engine`` is the
    engine the device named at creation (kept so a task runs as it was validated).
    ``job_arn`` links a task created with a job's token; such tasks have ``Priority``.
    """

    task_arn: str
    task_id: str
    account_id: str
    region: str
    status: TaskStatus
    device_arn: str
    engine: str
    shots: int
    action: str
    device_parameters: str | None
    output_s3_bucket: str
    output_s3_directory: str
    created_at: datetime.datetime
    priority: QueuePriority = QueuePriority.NORMAL
    job_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    """Echoed request members: ``associations``, ``experimentalCapabilities``."""
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    failure_reason: str | None = None
    num_successful_shots: int | None = None
    action_metadata: dict[str, Any] | None = None
    owner: str | None = None
    seq: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status in TASK_TERMINAL_STATUSES
