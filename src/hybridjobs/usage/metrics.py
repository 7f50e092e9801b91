"""Usage as Prometheus counters, read from the usage records when ``/metrics`` is scraped.

One grouped query per scrape (by account, kind, instance type or device, and status)
gives, since the service first recorded usage:

* ``hybridjobs_usage_jobs_total{account,instance_type}`` and
  ``hybridjobs_usage_instance_seconds_total{account,instance_type}`` (the jobs'
  ``billableDuration``, every instance counted);
* ``hybridjobs_usage_quantum_tasks_total{account,device,status}``,
  ``hybridjobs_usage_shots_total{account,device}`` and
  ``hybridjobs_usage_task_seconds_total{account,device}`` (the time tasks ran);
* ``hybridjobs_usage_cost_usd_total{account,kind}`` (``kind``: ``job`` or ``task``),
  priced at the price table in force, like ``hybridjobs usage``.

Labels are bounded by the service's accounts, instance types and devices. A counter
never decreases unless the operator changes the price table (costs are re-priced) or the
retention removes records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from hybridjobs.store import schema
from hybridjobs.usage.prices import COMPLETED, MIN_SIMULATOR_MS, PriceTable

_USAGE = schema.usage_records


@dataclass(frozen=True)
class UsageGroup:
    """The totals of the records of one account, kind, resource type and status."""

    account_id: str
    kind: str
    resource_type: str
    status: str
    count: int
    duration_ms: int
    shots: int
    billed_simulator_ms: int
    """Task durations with AWS's 3-second minimum applied to each task that ran."""

    def cost(self, prices: PriceTable, vcpus: Callable[[str], float | None]) -> Decimal:
        """What the group's records cost at ``prices`` (as ``report.record_cost`` sums)."""
        if self.kind == "job":
            return prices.job_cost(self.resource_type, self.duration_ms, vcpus(self.resource_type))
        qpu = prices.qpus.get(self.resource_type)
        if qpu is not None:
            if self.status != COMPLETED:
                return Decimal(0)
            return qpu.per_task * self.count + qpu.per_shot * self.shots
        minute = prices.simulators.get(self.resource_type)
        if minute is None:
            return Decimal(0)
        return minute * Decimal(self.billed_simulator_ms) / Decimal(60_000)


def usage_groups(engine: sa.Engine) -> list[UsageGroup]:
    """Every usage record, totalled by account, kind, resource type and status."""
    ran = _USAGE.c.duration_ms > 0
    billed = sa.case(
        (sa.and_(ran, _USAGE.c.duration_ms < MIN_SIMULATOR_MS), MIN_SIMULATOR_MS),
        else_=_USAGE.c.duration_ms,
    )
    keys = (_USAGE.c.account_id, _USAGE.c.kind, _USAGE.c.resource_type, _USAGE.c.status)
    query = sa.select(
        *keys,
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(_USAGE.c.duration_ms), 0),
        sa.func.coalesce(sa.func.sum(_USAGE.c.shots), 0),
        sa.func.coalesce(sa.func.sum(billed), 0),
    ).group_by(*keys)
    with engine.connect() as connection:
        return [
            UsageGroup(str(a), str(k), str(r), str(s), int(n), int(ms), int(shots), int(bms))
            for a, k, r, s, n, ms, shots, bms in connection.execute(query)
        ]


class UsageCollector(Collector):
    """The usage counters of one service, read at each scrape (see the module docstring).

    ``prices`` is the table in force; ``vcpus`` an instance type's vCPUs (for types the
    table prices per vCPU)."""

    def __init__(
        self,
        engine: sa.Engine,
        prices: Callable[[], PriceTable],
        vcpus: Callable[[str], float | None],
    ) -> None:
        self.engine = engine
        self.prices = prices
        self.vcpus = vcpus

    def collect(self) -> Iterator[Metric]:
        groups = usage_groups(self.engine)
        prices = self.prices()
        jobs = CounterMetricFamily(
            "hybridjobs_usage_jobs",
            "Finished jobs with a usage record, by account and instance type.",
            labels=["account", "instance_type"],
        )
        instance_seconds = CounterMetricFamily(
            "hybridjobs_usage_instance_seconds",
            "Instance-seconds of finished jobs (billableDuration), by account and instance type.",
            labels=["account", "instance_type"],
        )
        tasks = CounterMetricFamily(
            "hybridjobs_usage_quantum_tasks",
            "Finished quantum tasks, by account, device and final status.",
            labels=["account", "device", "status"],
        )
        shots = CounterMetricFamily(
            "hybridjobs_usage_shots",
            "Shots of finished quantum tasks, by account and device.",
            labels=["account", "device"],
        )
        task_seconds = CounterMetricFamily(
            "hybridjobs_usage_task_seconds",
            "Seconds finished quantum tasks ran, by account and device.",
            labels=["account", "device"],
        )
        cost = CounterMetricFamily(
            "hybridjobs_usage_cost_usd",
            "Estimated cost in USD of finished jobs and quantum tasks at the price table "
            "in force, by account and kind (job or task).",
            labels=["account", "kind"],
        )
        by_job_type: dict[tuple[str, str], list[float]] = {}
        by_device: dict[tuple[str, str], list[float]] = {}
        costs: dict[tuple[str, str], Decimal] = {}
        for group in groups:
            key = (group.account_id, group.resource_type)
            if group.kind == "job":
                totals = by_job_type.setdefault(key, [0, 0.0])
                totals[0] += group.count
                totals[1] += group.duration_ms / 1000
            else:
                tasks.add_metric([*key, group.status], group.count)
                totals = by_device.setdefault(key, [0, 0.0])
                totals[0] += group.shots
                totals[1] += group.duration_ms / 1000
            where = (group.account_id, group.kind)
            costs[where] = costs.get(where, Decimal(0)) + group.cost(prices, self.vcpus)
        for key, (count, seconds) in sorted(by_job_type.items()):
            jobs.add_metric(list(key), count)
            instance_seconds.add_metric(list(key), seconds)
        for key, (shot_count, seconds) in sorted(by_device.items()):
            shots.add_metric(list(key), shot_count)
            task_seconds.add_metric(list(key), seconds)
        for where, amount in sorted(costs.items()):
            cost.add_metric(list(where), float(amount))
        yield from (jobs, instance_seconds, tasks, shots, task_seconds, cost)
