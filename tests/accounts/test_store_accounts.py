"""What accounts keep in the database, on SQLite and PostgreSQL: bucket owners, each
account's load, the service secret job credentials derive from, and migration 8."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from contract.test_store_contract import make_job, queued_event
from support.postgres import create_schema

from hybridjobs.jobs.model import JobStatus
from hybridjobs.store import schema
from hybridjobs.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from hybridjobs.store.objectmetabase import BucketRecord
from hybridjobs.store.sql import SqlJobStore

A = "111111111111"
B = "222222222222"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accounts.db'}"
    return create_schema(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[SqlJobStore]:
    opened = SqlJobStore(url)
    try:
        yield opened
    finally:
        opened.close()


def test_bucket_records_keep_their_owner(store: SqlJobStore) -> None:
    store.record_bucket("owned", "us-west-2", 1.0, A)
    store.record_bucket("legacy", "us-east-1", 2.0)
    assert store.bucket_record("owned") == BucketRecord(1.0, "us-west-2", A)
    assert store.bucket_records()["legacy"] == BucketRecord(2.0, "us-east-1", None)


def test_an_accounts_load_counts_only_its_unfinished_jobs(store: SqlJobStore) -> None:
    for account, status, count in (
        (A, JobStatus.QUEUED, 2),
        (A, JobStatus.RUNNING, 3),
        (A, JobStatus.COMPLETED, 5),
        (B, JobStatus.QUEUED, 1),
    ):
        job = dataclasses.replace(make_job(account=account, status=status), instance_count=count)
        store.create_job(job, queued_event(), {}, None)
    assert store.account_job_load(A) == (2, 5)
    assert store.account_job_load(B) == (1, 1)
    assert store.account_job_load("333333333333") == (0, 0)
    assert store.account_queued_tasks(A) == 0


def test_a_job_is_live_until_it_ends(store: SqlJobStore) -> None:
    running = make_job(account=A, status=JobStatus.RUNNING)
    done = make_job(account=A, status=JobStatus.FAILED)
    for job in (running, done):
        store.create_job(job, queued_event(), {}, None)
    assert store.job_is_live(running.job_arn)
    assert not store.job_is_live(done.job_arn)
    assert not store.job_is_live(running.job_arn + "0")


def test_the_service_secret_is_made_once_for_every_process(url: str) -> None:
    stores = [SqlJobStore(url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            secrets = set(pool.map(lambda s: s.service_secret("job-credentials"), stores))
        assert len(secrets) == 1 and len(secrets.pop()) == 32
        assert stores[0].service_secret("other") != stores[0].service_secret("job-credentials")
    finally:
        for opened in stores:
            opened.close()


def test_a_version_7_database_gains_owners_and_secrets(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for migration in MIGRATIONS[:7]:
                migration.apply(connection)
            connection.execute(sa.text("ALTER TABLE s3_buckets DROP COLUMN account_id"))
            connection.execute(
                sa.text(
                    "INSERT INTO s3_buckets (bucket, created_at, region) "
                    "VALUES ('old', 1.0, 'us-east-1')"
                )
            )
            schema.schema_version.create(connection)
            connection.execute(schema.schema_version.insert().values(version=7))
        assert migrate(engine) == 7
        with engine.connect() as connection:
            assert current_version(connection) == LATEST_VERSION
            assert sa.inspect(connection).has_table("service_secrets")
        with engine.begin() as connection:  # applying it again changes nothing
            MIGRATIONS[7].apply(connection)
    finally:
        engine.dispose()
    store = SqlJobStore(url)
    try:
        assert store.bucket_record("old") == BucketRecord(1.0, "us-east-1", None)
        store.record_bucket("new", "us-east-1", 2.0, B)
        assert store.bucket_record("new") == BucketRecord(2.0, "us-east-1", B)
    finally:
        store.close()
