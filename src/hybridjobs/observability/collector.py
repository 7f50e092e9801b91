"""What ``/metrics`` reads from the service's state when it is scraped: jobs and quantum
tasks by status (the queue is the QUEUED ones), running instances and the warm pool."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hybridjobs.jobs.model import JobStatus
from hybridjobs.store import schema

WarmStatus = Callable[[], Mapping[str, Any] | None]


class ServiceCollector(Collector):
    """Reads one service's state at each scrape.

    ``engine`` is the service's database (two grouped counts per scrape);
    ``running_instances`` counts the instance processes this service supervises;
    ``warm_status`` is the warm launcher's status (``None`` without a warm pool);
    ``data_dir``'s file system reports its free space.
    """

    def __init__(
        self,
        engine: sa.Engine,
        running_instances: Callable[[], int],
        warm_status: WarmStatus,
        data_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.running_instances = running_instances
        self.warm_status = warm_status
        self.data_dir = data_dir

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "hybridjobs_jobs", "Jobs in the database by status.", labels=["status"]
        )
        counts = self._counts(schema.jobs)
        for status in JobStatus:
            jobs.add_metric([status.value], counts.get(status.value, 0))
        yield jobs
        yield GaugeMetricFamily(
            "hybridjobs_job_queue_length",
            "Jobs waiting for capacity (QUEUED).",
            value=counts.get(JobStatus.QUEUED.value, 0),
        )
        tasks = GaugeMetricFamily(
            "hybridjobs_quantum_tasks",
            "Quantum tasks in the database by status.",
            labels=["status"],
        )
        for task_status, count in sorted(self._counts(schema.quantum_tasks).items()):
            tasks.add_metric([task_status], count)
        yield tasks
        yield GaugeMetricFamily(
            "hybridjobs_instances_running",
            "Job instance processes this service supervises.",
            value=self.running_instances(),
        )
        yield from _warm_pool(self.warm_status())
        if self.data_dir is not None and self.data_dir.exists():
            usage = shutil.disk_usage(self.data_dir)
            yield GaugeMetricFamily(
                "hybridjobs_data_dir_free_bytes",
                "Free space of the data directory's file system (jobs wait below the "
                "min_free_disk_gib setting).",
                value=usage.free,
            )

    def _counts(self, table: sa.Table) -> dict[str, int]:
        query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        with self.engine.connect() as connection:
            return {str(status): int(count) for status, count in connection.execute(query)}


def _warm_pool(status: Mapping[str, Any] | None) -> Iterator[Metric]:
    """The warm pool's counters (nothing without a warm pool)."""
    if not status or not status.get("enabled"):
        return
    launches = status.get("launches", {})
    for name, help_text, value in (
        (
            "hybridjobs_warm_pool_hits",
            "Instances forked from a warm zygote.",
            launches.get("warm", 0),
        ),
        (
            "hybridjobs_warm_pool_misses",
            "Instances started cold (no idle zygote, or the pool fell back).",
            launches.get("cold", 0),
        ),
        (
            "hybridjobs_zygote_starts",
            "Zygotes started, including restarts after a crash or an exit.",
            status.get("started_zygotes", 0),
        ),
        ("hybridjobs_zygote_crashes", "Zygotes that died unexpectedly.", status.get("crashes", 0)),
        (
            "hybridjobs_zygote_failed_starts",
            "Zygotes that failed to become ready.",
            status.get("failed_starts", 0),
        ),
    ):
        yield CounterMetricFamily(name, help_text, value=value)
    yield GaugeMetricFamily(
        "hybridjobs_warm_pool_ready", "Live zygotes.", value=status.get("ready", 0)
    )
    yield GaugeMetricFamily(
        "hybridjobs_warm_pool_size", "Zygotes the pool keeps.", value=status.get("size", 0)
    )
