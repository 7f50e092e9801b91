"""A CRUD smoke test of the API on PostgreSQL (``serve --db-url``)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.braket import expect_error
from support.jobs import create_job_request, unique_name
from support.postgres import create_schema
from support.server import LiveServer

from hybridjobs.jobs.model import JobStatus
from hybridjobs.store.sql import SqlJobStore


@pytest.fixture(scope="module")
def db_url(pg_url: str) -> str:
    """A schema of its own in the session's database: this module's jobs only."""
    return create_schema(pg_url)


@pytest.fixture(scope="module")
def server_args(db_url: str) -> tuple[str, ...]:
    return ("--db-url", db_url)


@pytest.fixture(scope="module")
def server_store(server: LiveServer, db_url: str) -> Iterator[SqlJobStore]:
    store = SqlJobStore(db_url)
    try:
        yield store
    finally:
        store.close()


def test_the_server_uses_postgresql(server: LiveServer) -> None:
    assert "database: postgresql+psycopg://" in server.log_text()
    assert not (server.data_dir / "hybridjobs.db").exists()


def test_crud(braket: Any, server_store: SqlJobStore) -> None:
    name = unique_name("pg")
    request = create_job_request(jobName=name, tags={"db": "pg"})

    arn = braket.create_job(**request)["jobArn"]
    assert braket.create_job(**request)["jobArn"] == arn
    expect_error(braket.create_job, "ConflictException", 409, **{**request, "jobName": "other"})

    job = braket.get_job(jobArn=arn, additionalAttributeNames=["QueueInfo"])
    assert (job["jobName"], job["status"], job["tags"]) == (name, "QUEUED", {"db": "pg"})
    assert job["queueInfo"]["position"] == "1"

    found = braket.search_jobs(filters=[{"name": "jobName", "operator": "EQUAL", "values": [name]}])
    assert [j["jobArn"] for j in found["jobs"]] == [arn]

    braket.tag_resource(resourceArn=arn, tags={"more": "tags"})
    braket.untag_resource(resourceArn=arn, tagKeys=["db"])
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {"more": "tags"}

    assert server_store.transition(arn, JobStatus.RUNNING) is not None
    assert braket.cancel_job(jobArn=arn)["cancellationStatus"] == "CANCELLING"
    assert braket.get_job(jobArn=arn)["status"] == "CANCELLING"

    queued = braket.create_job(**create_job_request())["jobArn"]
    assert braket.cancel_job(jobArn=queued)["cancellationStatus"] == "CANCELLED"
    expect_error(braket.cancel_job, "ConflictException", 409, jobArn=queued)


def test_parallel_creates_with_one_token_make_one_job(server: LiveServer) -> None:
    request = create_job_request(jobName=unique_name("pgrace"))
    clients = [server.client("braket") for _ in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        arns = set(pool.map(lambda c: c.create_job(**request)["jobArn"], clients))

    assert len(arns) == 1
    found = clients[0].search_jobs(
        filters=[{"name": "jobName", "operator": "EQUAL", "values": [request["jobName"]]}]
    )
    assert [j["jobArn"] for j in found["jobs"]] == list(arns)
