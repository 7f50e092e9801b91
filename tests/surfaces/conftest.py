"""Fixtures of the surface tests: a real SQLite store holding jobs that have started."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hybridjobs.arns import new_job_arn
from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus
from hybridjobs.store.sql import SqlJobStore
from surfaces.roundtrip import ACCOUNT, REGION

T0 = datetime.datetime(2024, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)

StartJob = Callable[..., Job]


def at(seconds: float) -> datetime.datetime:
    """``seconds`` after T0."""
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlJobStore]:
    opened = SqlJobStore(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def start_job(store: SqlJobStore) -> StartJob:
    """Store a job and (unless ``started_at=None``) move it to RUNNING at ``started_at``."""

    def start(
        name: str = "job",
        instances: int = 1,
        account: str = ACCOUNT,
        region: str = REGION,
        started_at: datetime.datetime | None = T0,
        created_at: datetime.datetime = T0,
    ) -> Job:
        arn = new_job_arn(region, account)
        job = Job(
            job_arn=str(arn),
            job_id=arn.job_id,
            account_id=account,
            region=region,
            job_name=name,
            status=JobStatus.QUEUED,
            device="local:braket/braket.local.qubit",
            instance_type="ml.m5.large",
            instance_count=instances,
            definition={"jobName": name, "instanceConfig": {"instanceCount": instances}},
            created_at=created_at,
        )
        stored, _ = store.create_job(
            job, JobEvent(JobEventType.QUEUED_FOR_EXECUTION, created_at), {}, None
        )
        if started_at is None:
            return stored
        running = store.transition(
            stored.job_arn, JobStatus.RUNNING, updates={"started_at": started_at}
        )
        assert running is not None
        return running

    return start
