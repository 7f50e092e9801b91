"""The console's sorted, tag-filtered job lists: the domain search (JobService.search_jobs
with an order and tag matches) over a real store, SQLite and PostgreSQL; the API's own
SearchJobs answers are unchanged."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hybridjobs.arns import new_job_arn
from hybridjobs.errors import ValidationException
from hybridjobs.jobs.admission import Capacity
from hybridjobs.jobs.listorder import SearchOrder
from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus
from hybridjobs.jobs.ports import TagMatch
from hybridjobs.jobs.service import Caller, JobLimits, JobService
from hybridjobs.store import schema
from hybridjobs.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from hybridjobs.store.sql import SqlJobStore

ACCOUNT = "123456789012"
T0 = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
NAMES = ["delta", "alpha", "echo", "bravo", "alpha", "charlie", "foxtrot", "bravo"]
STATUSES = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED]


def make_job(account: str, name: str, created_at: datetime.datetime, status: JobStatus) -> Job:
    arn = new_job_arn("us-west-2", account)
    return Job(
        job_arn=str(arn),
        job_id=arn.job_id,
        account_id=account,
        region="us-west-2",
        job_name=name,
        status=status,
        device="local:braket/default",
        instance_type="ml.m5.large",
        instance_count=1,
        definition={"jobName": name, "instanceConfig": {"instanceType": "ml.m5.large"}},
        created_at=created_at,
    )


def queued_event(moment: datetime.datetime) -> JobEvent:
    return JobEvent(JobEventType.QUEUED_FOR_EXECUTION, moment, "queued")


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobService]:
    """A job service over a new store holding ``NAMES`` (created in that order, every
    other one tagged ``team=qa``, statuses cycling through ``STATUSES``) and one job of
    another account."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        from support.postgres import create_schema

        url = create_schema(request.getfixturevalue("pg_url"))
    store = SqlJobStore(url)
    for index, name in enumerate(NAMES):
        moment = T0 + datetime.timedelta(minutes=index)
        status = STATUSES[index % len(STATUSES)]
        job = make_job(ACCOUNT, name, moment, status)
        tags = {"team": "qa"} if index % 2 == 0 else {"team": "ops"}
        store.create_job(job, queued_event(moment), tags, None)
    other = make_job("999999999999", "aaa", T0, JobStatus.QUEUED)
    store.create_job(other, queued_event(T0), {}, None)
    limits = JobLimits(5, {}, Capacity(16, 64, 0))
    try:
        yield JobService(store, limits)
    finally:
        store.close()


CALLER = Caller(ACCOUNT, "us-west-2")


def all_pages(
    service: JobService, order: SearchOrder | None, tags: list[TagMatch], **params: Any
) -> list[dict[str, Any]]:
    """Every job of the search, three to a page, following ``nextToken``."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"filters": [], "maxResults": 3, **params}
    while True:
        answer = service.search_jobs(CALLER, request, order=order, tags=tags)
        found.extend(answer["jobs"])
        if "nextToken" not in answer:
            return found
        request["nextToken"] = answer["nextToken"]


def test_sorted_by_name_across_pages_both_ways(service: JobService) -> None:
    ascending = all_pages(service, SearchOrder("name", descending=False), [])
    assert [job["jobName"] for job in ascending] == sorted(NAMES)
    descending = all_pages(service, SearchOrder("name"), [])
    assert [job["jobName"] for job in descending] == sorted(NAMES, reverse=True)
    assert len({job["jobArn"] for job in ascending}) == len(NAMES)  # ties: none lost


def test_sorted_by_status_and_creation(service: JobService) -> None:
    by_status = all_pages(service, SearchOrder("status", descending=False), [])
    assert [job["status"] for job in by_status] == sorted(job["status"] for job in by_status)
    assert len(by_status) == len(NAMES)
    oldest_first = all_pages(service, SearchOrder("created", descending=False), [])
    assert [job["jobName"] for job in oldest_first] == NAMES


def test_tag_filter_is_a_store_query_with_other_filters(service: JobService) -> None:
    tagged = all_pages(service, None, [TagMatch("team", "qa")])
    assert [job["jobName"] for job in tagged] == NAMES[::2][::-1]
    assert all(job["tags"] == {"team": "qa"} for job in tagged)
    assert len(all_pages(service, None, [TagMatch("team")])) == len(NAMES)
    assert all_pages(service, None, [TagMatch("team", "nobody")]) == []
    named = all_pages(
        service,
        SearchOrder("name", descending=False),
        [TagMatch("team", "qa")],
        filters=[{"name": "jobName", "operator": "CONTAINS", "values": ["o"]}],
    )
    assert [job["jobName"] for job in named] == ["echo", "foxtrot"]


def test_tokens_are_bound_to_their_search_and_the_api_search_is_unchanged(
    service: JobService,
) -> None:
    first = service.search_jobs(CALLER, {"filters": [], "maxResults": 3}, order=SearchOrder("name"))
    with pytest.raises(ValidationException, match="nextToken"):
        service.search_jobs(
            CALLER,
            {"filters": [], "maxResults": 3, "nextToken": first["nextToken"]},
            order=SearchOrder("status"),
        )
    with pytest.raises(ValidationException, match="nextToken"):
        service.search_jobs(
            CALLER, {"filters": [], "maxResults": 3, "nextToken": first["nextToken"]}
        )
    with pytest.raises(ValidationException, match="sort"):
        SearchOrder("duration")
    api = all_pages(service, None, [])
    assert [job["jobName"] for job in api] == NAMES[::-1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_version_9_database_gains_the_sort_indexes(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        from support.postgres import create_schema

        url = create_schema(request.getfixturevalue("pg_url"))
    sorts = {"ix_jobs_account_name_seq", "ix_jobs_account_status_seq"}
    engine = sa.create_engine(url)
    try:
        migrate(engine)
        with engine.begin() as connection:  # as version 9 left it: without them
            for name in sorted(sorts):
                connection.execute(sa.text(f"DROP INDEX {name}"))
            connection.execute(schema.schema_version.update().values(version=9))
        assert migrate(engine) == 9
        with engine.connect() as connection:
            indexes = {index["name"] for index in sa.inspect(connection).get_indexes("jobs")}
            assert sorts <= indexes
            assert current_version(connection) == LATEST_VERSION
        assert MIGRATIONS[9].version == 10
        with engine.begin() as connection:  # applying it again changes nothing
            MIGRATIONS[9].apply(connection)
    finally:
        engine.dispose()
