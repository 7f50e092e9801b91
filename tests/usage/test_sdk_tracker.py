"""Seeing task usage on a live server: the SDK's ``Tracker`` outside a job, against the
service's served price list, prices a simulator task by the execution time the service
measured and wrote into its results (``additionalMetadata.simulatorMetadata
.executionDuration``, at least 3 s, as on AWS); ``/metrics`` shows the usage records'
totals as Prometheus counters."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import wait_until
from prometheus_client.parser import text_string_to_metric_families
from support.braket import point_sdk_at
from support.server import LiveServer
from tasks.conftest import BELL, DM1, REGION, SV1, create_task

from hybridjobs.runners.contract import PRICE_LIST_PATH
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.store.sqlusage import UsageRow
from hybridjobs.usage.prices import DEFAULT_PRICES, MIN_SIMULATOR_MS
from hybridjobs.usage.report import record_cost
from usage.conftest import TaskServers

SIMULATORS = {"sqlite": SV1, "postgresql": DM1}
"""One simulator per backend (the service's code is the same for both)."""


@pytest.fixture
def tracked_sdk(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The SDK pointed at the service, its price list read fresh from the service."""
    from braket.tracking import pricing

    point_sdk_at(monkeypatch, server.url, REGION, tmp_path)
    monkeypatch.setenv("BRAKET_PRICE_OFFERS_URL", f"{server.url}{PRICE_LIST_PATH}")
    monkeypatch.setattr(pricing._pricing, "_price_list", [])
    pricing.price_search.cache_clear()
    yield
    pricing.price_search.cache_clear()


@pytest.mark.usefixtures("tracked_sdk")
def test_the_tracker_prices_simulator_tasks_by_their_measured_duration(
    task_servers: TaskServers,
) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit
    from braket.tracking import Tracker

    arn = SIMULATORS[task_servers.backend]
    with Tracker() as tracker:
        result = AwsDevice(arn).run(Circuit().h(0).cnot(0, 1), shots=100).result()

    duration = result.additional_metadata.simulatorMetadata.executionDuration
    assert isinstance(duration, int) and duration > 0
    stats = tracker.quantum_tasks_statistics()[arn]
    assert stats["execution_duration"].total_seconds() * 1000 == pytest.approx(duration)
    billed = max(duration, MIN_SIMULATOR_MS)
    expected = DEFAULT_PRICES.simulators[arn] * billed / 60_000
    assert tracker.simulator_tasks_cost() == expected > 0
    assert tracker.qpu_tasks_cost() == 0


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("hybridjobs_usage_")
    }


def _expected(records: list[UsageRow]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The usage counters the records make (what ``/metrics`` must show)."""
    totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
    costs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for record in records:
        account = ("account", record.account_id)
        if record.kind == "job":
            labels: tuple[tuple[str, str], ...] = (account, ("instance_type", record.resource_type))
            totals[("hybridjobs_usage_jobs_total", labels)] += 1
            totals[("hybridjobs_usage_instance_seconds_total", labels)] += record.duration_ms / 1000
        else:
            device = ("device", record.resource_type)
            status = ("status", record.status)
            totals[("hybridjobs_usage_quantum_tasks_total", (account, device, status))] += 1
            totals[("hybridjobs_usage_shots_total", (account, device))] += record.shots
            totals[("hybridjobs_usage_task_seconds_total", (account, device))] += (
                record.duration_ms / 1000
            )
        costs[(record.account_id, record.kind)] += record_cost(record, DEFAULT_PRICES, _no_vcpus)
    for (account_id, kind), amount in costs.items():
        key = ("hybridjobs_usage_cost_usd_total", (("account", account_id), ("kind", kind)))
        totals[key] = float(amount)
    return dict(totals)


def _no_vcpus(instance_type: str) -> float | None:
    return None


def test_metrics_count_the_usage_records(
    server: LiveServer, braket: Any, task_servers: TaskServers
) -> None:
    """``/metrics`` shows the usage records' totals: tasks by device and status, shots,
    run time and cost (the records are read before and after the scrape, so tasks
    finishing meanwhile on the shared server are retried, not miscounted)."""
    arn = create_task(braket, BELL, device=SV1, shots=10)
    store = SqlJobStore(task_servers.db_url)
    try:
        wait_until(lambda: bool(store.usage_records(resource_arns=[arn])), 60, "the record")
        for _ in range(20):
            before = store.usage_records()
            scraped = _scrape(server.url)
            if store.usage_records() == before:
                break
        else:
            pytest.fail("usage records kept changing during 20 scrapes")
    finally:
        store.close()
    assert arn in {r.resource_arn for r in before}
    expected = _expected(before)
    assert set(scraped) == set(expected)
    for key, value in expected.items():
        assert scraped[key] == pytest.approx(value, rel=1e-9), key
