"""The store methods behind the Logs surface, on SQLite and PostgreSQL: reading a stream
backwards, the ``contains`` filter, and per-instance summaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import create_schema

from hybridjobs.store.base import LogEvent
from hybridjobs.store.sql import SqlJobStore
from surfaces.conftest import T0, StartJob, at


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlJobStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = create_schema(request.getfixturevalue("pg_url"))
    opened = SqlJobStore(url)
    try:
        yield opened
    finally:
        opened.close()


def test_newest_first_before_sequence_and_contains(store: SqlJobStore, start_job: StartJob) -> None:
    job = start_job()
    lines = ["a 50%", "Metrics - x=1;", "b", "Metrics - x=2;", "c 50_"]
    store.add_log_events(job.job_arn, [LogEvent("algo-1", at(i), m) for i, m in enumerate(lines)])
    store.add_log_events(job.job_arn, [LogEvent("algo-2", at(9), "Metrics - other;")])
    every = store.list_log_events(job.job_arn, "algo-1")
    sequences = [e.sequence for e in every]

    newest = store.list_log_events(job.job_arn, "algo-1", limit=2, newest_first=True)
    assert [e.message for e in newest] == ["c 50_", "Metrics - x=2;"]
    before = store.list_log_events(
        job.job_arn, "algo-1", before_sequence=sequences[2], newest_first=True
    )
    assert [e.message for e in before] == ["Metrics - x=1;", "a 50%"]
    between = store.list_log_events(
        job.job_arn, "algo-1", after_sequence=sequences[0], before_sequence=sequences[3]
    )
    assert [e.message for e in between] == ["Metrics - x=1;", "b"]

    metrics = store.list_log_events(job.job_arn, "algo-1", contains="Metrics - ")
    assert [e.message for e in metrics] == ["Metrics - x=1;", "Metrics - x=2;"]
    # Taken literally: LIKE wildcards in the text match only themselves.
    assert [e.message for e in store.list_log_events(job.job_arn, "algo-1", contains="50%")] == [
        "a 50%"
    ]
    assert [e.message for e in store.list_log_events(job.job_arn, "algo-1", contains="50_")] == [
        "c 50_"
    ]
    windowed = store.list_log_events(
        job.job_arn,
        "algo-1",
        start_time=at(1),
        end_time=at(4),
        contains="Metrics",
        newest_first=True,
    )
    assert [e.message for e in windowed] == ["Metrics - x=2;", "Metrics - x=1;"]


def test_summaries_per_instance(store: SqlJobStore, start_job: StartJob) -> None:
    job = start_job(instances=3)
    other = start_job()
    assert store.summarize_log_events(job.job_arn) == {}
    store.add_log_events(job.job_arn, [LogEvent("algo-1", at(t), "x") for t in (5, 1, 3)])
    store.add_log_events(job.job_arn, [LogEvent("algo-2", at(7), "y")])
    store.add_log_events(other.job_arn, [LogEvent("algo-1", at(100), "z")])

    summaries = store.summarize_log_events(job.job_arn)

    assert set(summaries) == {"algo-1", "algo-2"}
    one = summaries["algo-1"]
    assert (one.event_count, one.first_timestamp, one.last_timestamp) == (3, at(1), at(5))
    assert one.last_sequence == store.list_log_events(job.job_arn, "algo-1")[-1].sequence
    assert summaries["algo-2"].first_timestamp == summaries["algo-2"].last_timestamp == at(7)
    assert one.first_timestamp > T0
