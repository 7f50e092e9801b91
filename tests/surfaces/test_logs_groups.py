"""DescribeLogGroups: the one group's creationTime is a real epoch-millisecond time."""

from __future__ import annotations

import math
import time
from typing import Any

from hybridjobs.services.logs import LogsService
from hybridjobs.store.sql import SqlJobStore
from surfaces.conftest import StartJob, at
from surfaces.roundtrip import OTHER_ACCOUNT, REGION, Caller


def the_group(caller: Caller) -> dict[str, Any]:
    (group,) = caller("DescribeLogGroups")["logGroups"]
    assert group["logGroupName"] == "/aws/braket/jobs"
    return group


def test_creation_time_is_when_the_first_job_was_created(
    store: SqlJobStore, start_job: StartJob
) -> None:
    first = start_job(name="first", created_at=at(0), started_at=at(30))
    start_job(name="second", created_at=at(100), started_at=at(130))
    start_job(name="elsewhere", created_at=at(-500), region="eu-west-2")
    logs = Caller(LogsService(store))

    created = the_group(logs)["creationTime"]

    assert created == math.floor(first.created_at.timestamp() * 1000)
    assert the_group(logs)["creationTime"] == created  # stable across calls
    streams = logs("DescribeLogStreams", logGroupName="/aws/braket/jobs")["logStreams"]
    assert all(stream["creationTime"] >= created for stream in streams)


def test_creation_time_before_any_job_is_when_the_service_started(store: SqlJobStore) -> None:
    before = math.floor(time.time() * 1000)
    logs = Caller(LogsService(store), account=OTHER_ACCOUNT, region=REGION)

    created = the_group(logs)["creationTime"]

    assert before <= created <= math.ceil(time.time() * 1000)


def test_each_account_has_its_own_creation_time(store: SqlJobStore, start_job: StartJob) -> None:
    start_job(name="mine", created_at=at(0))
    theirs = start_job(name="theirs", account=OTHER_ACCOUNT, created_at=at(3600))
    service = LogsService(store)

    assert the_group(Caller(service, account=OTHER_ACCOUNT))["creationTime"] == math.floor(
        theirs.created_at.timestamp() * 1000
    )
    assert the_group(Caller(service))["creationTime"] == math.floor(at(0).timestamp() * 1000)
