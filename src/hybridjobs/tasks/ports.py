"""The tasks domain's persistence port (the task half of the store).

The domain owns this contract; ``hybridjobs.store.sqltasks`` implements it.

Like jobs, every status change is a compare-and-set against the task transition table,
so an API process, a worker and a cancel can never both move one task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hybridjobs.jobs.ports import IdempotencyKey, JobFilter
from hybridjobs.tasks.model import QuantumTask, QueuePriority, TaskStatus


@dataclass(frozen=True)
class QueueSize:
    """How many tasks wait for one device in one priority."""

    device_arn: str
    priority: QueuePriority
    size: int


class TaskStore(Protocol):
    """Persistence for quantum tasks. Implementations are safe to share between threads."""

    def create_task(
        self, task: QuantumTask, idempotency: IdempotencyKey | None
    ) -> tuple[QuantumTask, bool]:
        """Insert ``task`` (QUEUED) atomically with its idempotency record.

        With the token already recorded for the same request hash, return the task it
        created and ``False``; with another hash raise IdempotencyConflict (its ``job_arn``
        holds the task ARN).
        """
        ...

    def get_task(self, task_arn: str) -> QuantumTask | None: ...

    def transition_task(
        self,
        task_arn: str,
        to: TaskStatus,
        *,
        expected: Iterable[TaskStatus] | None = None,
        updates: dict[str, Any] | None = None,
    ) -> QuantumTask | None:
        """Move the task to ``to`` if its status is one of ``expected`` (default: every
        status the table allows ``to`` from); compare-and-set. ``updates`` sets
        ``started_at``, ``ended_at``, ``failure_reason``, ``num_successful_shots``,
        ``action_metadata`` or ``owner`` in the same write. ``None``: nothing written."""
        ...

    def queued_tasks(self, limit: int) -> list[QuantumTask]:
        """QUEUED tasks in the order they run: Priority before Normal, then oldest first."""
        ...

    def list_tasks(self, statuses: Iterable[TaskStatus]) -> list[QuantumTask]:
        """Tasks in the given statuses, oldest first, all accounts."""
        ...

    def task_queue_position(self, task: QuantumTask) -> int:
        """How many QUEUED tasks of the same device run before ``task`` (0: next)."""
        ...

    def task_queue_sizes(self) -> list[QueueSize]:
        """QUEUED task counts per device and priority (devices with none are absent)."""
        ...

    def search_tasks(
        self,
        account_id: str,
        filters: Sequence[JobFilter],
        limit: int,
        before_seq: int | None = None,
    ) -> list[QuantumTask]:
        """The account's tasks matching every filter (fields ``task_arn``, ``device_arn``,
        ``job_arn``, ``status``, ``created_at``), newest first, keyset-paginated."""
        ...

    def unfinished_tasks_of_job(self, job_arn: str) -> list[QuantumTask]:
        """The job's QUEUED, RUNNING and CANCELLING tasks."""
        ...

    def set_task_tags(self, task_arn: str, add: dict[str, str], remove: Iterable[str] = ()) -> None:
        """Add or replace ``add`` and drop the keys in ``remove``, in one write."""
        ...
