"""Usage and cost, totalled: per job, device, instance type or day, from the usage
records (``store.sqlusage``) priced by a :class:`~hybridjobs.usage.prices.PriceTable`.

Costs are computed when asked, from the records' quantities (instance-milliseconds,
shots, task durations) and the price table in force: a changed price file re-prices the
past. The figures are estimates in USD, like the SDK Tracker's.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from hybridjobs.store.sqlusage import UsageRow
from hybridjobs.usage.prices import PriceTable

GroupBy = Literal["job", "device", "instance-type", "day", "account"]
GROUPINGS: tuple[GroupBy, ...] = ("job", "device", "instance-type", "day", "account")


def record_cost(
    record: UsageRow, prices: PriceTable, vcpus: Callable[[str], float | None]
) -> Decimal:
    """What one usage record costs at ``prices``."""
    if record.kind == "job":
        return prices.job_cost(
            record.resource_type, record.duration_ms, vcpus(record.resource_type)
        )
    return prices.task_cost(record.resource_type, record.status, record.shots, record.duration_ms)


@dataclass
class UsageLine:
    """The totals of one group."""

    key: str
    jobs: int = 0
    instance_ms: int = 0
    tasks: int = 0
    shots: int = 0
    task_ms: int = 0
    cost: Decimal = field(default_factory=lambda: Decimal(0))

    def add(self, record: UsageRow, cost: Decimal) -> None:
        if record.kind == "job":
            self.jobs += 1
            self.instance_ms += record.duration_ms
        else:
            self.tasks += 1
            self.shots += record.shots
            self.task_ms += record.duration_ms
        self.cost += cost

    def as_json(self) -> dict[str, Any]:
        """The line as JSON: seconds as numbers, the cost as a string of USD."""
        return {
            "key": self.key,
            "jobs": self.jobs,
            "instanceSeconds": self.instance_ms / 1000,
            "tasks": self.tasks,
            "shots": self.shots,
            "taskSeconds": self.task_ms / 1000,
            "cost": format(self.cost.quantize(Decimal("0.000001")), "f"),
        }


def _key(record: UsageRow, by: GroupBy) -> str:
    if by == "job":
        return record.job_arn or "(no job)"
    if by == "device":
        return record.resource_type if record.kind == "task" else "(job instances)"
    if by == "instance-type":
        return record.resource_type if record.kind == "job" else "(quantum tasks)"
    if by == "account":
        return record.account_id
    return record.ended_at.astimezone(datetime.UTC).date().isoformat()


def summarize(
    records: Iterable[UsageRow],
    prices: PriceTable,
    vcpus: Callable[[str], float | None],
    by: GroupBy,
) -> tuple[list[UsageLine], UsageLine]:
    """The lines grouped ``by`` (in key order) and the total of all."""
    lines: dict[str, UsageLine] = {}
    total = UsageLine("total")
    for record in records:
        cost = record_cost(record, prices, vcpus)
        key = _key(record, by)
        lines.setdefault(key, UsageLine(key)).add(record, cost)
        total.add(record, cost)
    return [lines[key] for key in sorted(lines)], total
