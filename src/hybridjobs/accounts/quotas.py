"""Per-account quotas: concurrent jobs, their instances, and queued quantum tasks.

CreateJob and CreateQuantumTask ask before storing: a job that would take the account
past ``max_concurrent_jobs`` unfinished jobs (queued, running or cancelling) or
``max_concurrent_instances`` instances of them, or a task past ``max_queued_tasks``
queued tasks, is refused with ``ServiceQuotaExceededException`` (402), whose message
names the quota, its value and how to raise it. A limit of 0 means no limit. The check
and the insert are not one transaction: two requests racing for the last slot may both
pass (the quota bounds load; it is not a billing guarantee).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hybridjobs.errors import ServiceQuotaExceededException


class AccountLoad(Protocol):
    """What the store reports of one account's load."""

    def account_job_load(self, account_id: str) -> tuple[int, int]:
        """Unfinished jobs and their instances."""
        ...

    def account_queued_tasks(self, account_id: str) -> int:
        """Queued quantum tasks."""
        ...


@dataclass(frozen=True)
class QuotaLimits:
    """The per-account limits (0: none)."""

    max_concurrent_jobs: int = 0
    max_concurrent_instances: int = 0
    max_queued_tasks: int = 0


@dataclass(frozen=True)
class Quotas:
    """Checks a new job or task against its account's quotas (see the module doc)."""

    limits: QuotaLimits
    load: AccountLoad

    def check_job(self, account_id: str, instance_count: int) -> None:
        """Raise ``ServiceQuotaExceededException`` unless ``account_id`` may queue one more
        job of ``instance_count`` instances."""
        limits = self.limits
        if not (limits.max_concurrent_jobs or limits.max_concurrent_instances):
            return
        jobs, instances = self.load.account_job_load(account_id)
        if limits.max_concurrent_jobs and jobs + 1 > limits.max_concurrent_jobs:
            raise ServiceQuotaExceededException(
                f"You have exceeded the service quota of {limits.max_concurrent_jobs} "
                f"concurrent jobs for account {account_id} ({jobs} are queued or running); "
                "wait for one to finish, or ask the operator to raise "
                "HYBRIDJOBS_MAX_CONCURRENT_JOBS_PER_ACCOUNT."
            )
        if limits.max_concurrent_instances and (
            instances + instance_count > limits.max_concurrent_instances
        ):
            raise ServiceQuotaExceededException(
                f"instanceConfig.instanceCount: {instance_count} more instances would exceed "
                f"the service quota of {limits.max_concurrent_instances} concurrent instances "
                f"for account {account_id} ({instances} in use); ask the operator to raise "
                "HYBRIDJOBS_MAX_CONCURRENT_INSTANCES_PER_ACCOUNT."
            )

    def check_task(self, account_id: str) -> None:
        """Raise ``ServiceQuotaExceededException`` unless ``account_id`` may queue one more
        quantum task."""
        limit = self.limits.max_queued_tasks
        if not limit:
            return
        queued = self.load.account_queued_tasks(account_id)
        if queued + 1 > limit:
            raise ServiceQuotaExceededException(
                f"You have exceeded the service quota of {limit} queued quantum tasks for "
                f"account {account_id} ({queued} are queued); wait for some to run, or ask "
                "the operator to raise HYBRIDJOBS_MAX_QUEUED_TASKS_PER_ACCOUNT."
            )
