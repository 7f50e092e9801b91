"""Job budgets: per account, USD a calendar month (UTC), set by the operator; and per
job, a tag the job's owner sets.

``HYBRIDJOBS_JOB_BUDGETS`` maps account ids (or ``"*"``, every other account) to a
monthly amount. An account's spend this month is what its jobs that ended this month
cost (their usage records) plus what its running jobs have cost so far. CreateJob is
refused with ServiceQuotaExceededException (402, in the model for CreateJob) once the
spend has reached the budget; the message names the budget. With
``HYBRIDJOBS_JOB_BUDGETS_STOP_RUNNING`` the account's running jobs are stopped too
(FAILED, ``JobBudgetExceeded: ...``). Quantum tasks are capped by spending limits
instead (``usage.limits``).

The tag ``hybridjobs:budget`` (USD, e.g. ``"25"``) caps one job: once the job's own cost
(its instances so far and its finished quantum tasks) reaches it, the job is stopped
(FAILED, ``JobBudgetExceeded: ...`` naming the tag). The tag only ever stops a job
earlier: it never lifts the account's budget, which applies to tagged jobs as to any.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Protocol

from hybridjobs.errors import ServiceQuotaExceededException, ValidationException
from hybridjobs.jobs.model import Job, JobStatus
from hybridjobs.jobs.service import Caller
from hybridjobs.store.sqlusage import UsageRow
from hybridjobs.usage.prices import PriceTable
from hybridjobs.usage.report import record_cost

ANY_ACCOUNT = "*"
BUDGET_TAG = "hybridjobs:budget"
"""The job tag that caps one job's cost (USD)."""
STOP_CHECK_SECONDS = 2.0
"""How often a running job's budgets are checked (at most; by its supervisor)."""


class BudgetStore(Protocol):
    """What budgets need of the store."""

    def usage_records(
        self,
        account_id: str | None = None,
        since: datetime.datetime | None = None,
        kind: str | None = None,
        resource_arns: Sequence[str] | None = None,
    ) -> list[UsageRow]: ...

    def list_jobs(self, statuses: list[JobStatus], limit: int | None = None) -> list[Job]: ...


def month_start(now: datetime.datetime) -> datetime.datetime:
    """The first instant of ``now``'s calendar month (UTC)."""
    now = now.astimezone(datetime.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class JobBudgets:
    """Checks CreateJob against the caller's account budget."""

    def __init__(
        self,
        budgets: Mapping[str, float],
        store: BudgetStore,
        prices: Callable[[], PriceTable],
        vcpus: Callable[[str], float | None],
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.budgets = {account: Decimal(str(amount)) for account, amount in budgets.items()}
        self.store = store
        self.prices = prices
        self.vcpus = vcpus
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))

    def budget_of(self, account_id: str) -> Decimal | None:
        """The account's monthly budget, or ``None`` (no budget)."""
        return self.budgets.get(account_id, self.budgets.get(ANY_ACCOUNT))

    def spent(self, account_id: str) -> Decimal:
        """What the account's jobs have cost this month (finished and running)."""
        now = self.clock()
        start = month_start(now)
        prices = self.prices()
        records = self.store.usage_records(account_id, since=start, kind="job")
        total = sum((record_cost(r, prices, self.vcpus) for r in records), Decimal(0))
        for job in self.store.list_jobs([JobStatus.RUNNING, JobStatus.CANCELLING]):
            if job.account_id != account_id or job.started_at is None:
                continue
            ran_ms = max(0, int((now - max(job.started_at, start)).total_seconds() * 1000))
            total += prices.job_cost(
                job.instance_type, ran_ms * job.instance_count, self.vcpus(job.instance_type)
            )
        return total

    def check(self, caller: Caller) -> None:
        """Raise ServiceQuotaExceededException when the caller's budget is spent."""
        budget = self.budget_of(caller.account_id)
        if budget is None:
            return
        spent = self.spent(caller.account_id)
        if spent >= budget:
            raise ServiceQuotaExceededException(
                f"JobBudgetExceeded: the job budget of account {caller.account_id} "
                f"(${budget} a month, HYBRIDJOBS_JOB_BUDGETS) is spent: "
                f"${spent.quantize(Decimal('0.01'))} since "
                f"{month_start(self.clock()).date().isoformat()}; no new jobs until next month "
                "or until the operator raises it"
            )


def tag_budget(tags: Mapping[str, str]) -> Decimal | None:
    """The budget a job's ``hybridjobs:budget`` tag sets, or ``None`` without the tag;
    ValidationException naming the tag when its value is not an amount above 0."""
    value = tags.get(BUDGET_TAG)
    if value is None:
        return None
    try:
        amount = Decimal(value.strip().removeprefix("$"))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0:
        raise ValidationException(
            f"tags: {BUDGET_TAG} must be an amount in USD above 0 (such as '25' or '2.50'), "
            f"not {value!r}"
        )
    return amount


def _usd(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01'))}"


class BudgetStops:
    """The budget check a job supervisor makes of its running job (``stop_checks`` of the
    scheduler context): a failure reason when the job's tag budget or, with
    ``stop_running``, its account's budget is spent; ``None`` otherwise. Each job is
    checked at most every :data:`STOP_CHECK_SECONDS`; thread-safe."""

    def __init__(
        self,
        budgets: JobBudgets,
        stop_running: bool,
        tags: Callable[[str], Mapping[str, str]],
        job_records: Callable[[str], list[UsageRow]],
    ) -> None:
        self.budgets = budgets
        self.stop_running = stop_running
        self.tags = tags
        self.job_records = job_records
        self._next_check: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, job: Job) -> str | None:
        now = time.monotonic()
        with self._lock:
            if now < self._next_check.get(job.job_arn, 0.0):
                return None
            if len(self._next_check) > 10_000:
                self._next_check.clear()
            self._next_check[job.job_arn] = now + STOP_CHECK_SECONDS
        return self._tag_reason(job) or (self._account_reason(job) if self.stop_running else None)

    def job_cost(self, job: Job) -> Decimal:
        """What the running job has cost so far: its instances and finished tasks."""
        prices = self.budgets.prices()
        vcpus = self.budgets.vcpus
        cost = Decimal(0)
        if job.started_at is not None:
            ran = self.budgets.clock() - job.started_at
            ran_ms = max(0, int(ran.total_seconds() * 1000)) * job.instance_count
            cost += prices.job_cost(job.instance_type, ran_ms, vcpus(job.instance_type))
        for record in self.job_records(job.job_arn):
            if record.kind == "task":
                cost += record_cost(record, prices, vcpus)
        return cost

    def _tag_reason(self, job: Job) -> str | None:
        try:
            budget = tag_budget(self.tags(job.job_arn))
        except ValidationException:
            return None  # refused when tagged; an older value is not a budget
        if budget is None:
            return None
        cost = self.job_cost(job)
        if cost < budget:
            return None
        return (
            f"JobBudgetExceeded: the job's budget (tag {BUDGET_TAG} = {_usd(budget)}) is "
            f"spent: its instances and quantum tasks have cost {_usd(cost)}; the job was "
            "stopped"
        )

    def _account_reason(self, job: Job) -> str | None:
        budget = self.budgets.budget_of(job.account_id)
        if budget is None:
            return None
        spent = self.budgets.spent(job.account_id)
        if spent < budget:
            return None
        since = month_start(self.budgets.clock()).date().isoformat()
        return (
            f"JobBudgetExceeded: the job budget of account {job.account_id} "
            f"({_usd(budget)} a month, HYBRIDJOBS_JOB_BUDGETS) is spent: {_usd(spent)} since "
            f"{since}; running jobs are stopped (HYBRIDJOBS_JOB_BUDGETS_STOP_RUNNING)"
        )
