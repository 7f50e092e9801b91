"""The S3 surface's records in SQL (``SqlObjectMeta``) on SQLite and PostgreSQL: object
records keyed by key and trusted while size and ETag match, bulk lookups for listings,
bucket records, and migration 6 bringing a version-5 database up to date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.postgres import create_schema

from hybridjobs.objects import ObjectInfo
from hybridjobs.store import schema
from hybridjobs.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from hybridjobs.store.objectmetabase import BucketRecord, ObjectMeta
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.store.sqlobjectmeta import SqlObjectMeta

INFO = ObjectInfo("a/key.txt", 5, 1_700_000_000.25, '"5d41402abc4b2a76b9719d911017c592"')
META = ObjectMeta(
    content_type="text/x-test",
    metadata={"owner": "alice", "é": "ü"},
    headers={"CacheControl": "max-age=60"},
    s3_etag='"0123456789abcdef0123456789abcdef-2"',
    tags={"team": "qa"},
)


@pytest.fixture
def records(store_url: str) -> Iterator[SqlObjectMeta]:
    opened = SqlObjectMeta(store_url)
    try:
        yield opened
    finally:
        opened.close()


def test_an_object_record_round_trips(records: SqlObjectMeta) -> None:
    assert records.object_meta("b", INFO.key, INFO) == ObjectMeta()
    records.put_object_meta("b", INFO.key, INFO, META)
    assert records.object_meta("b", INFO.key, INFO) == META
    assert records.object_meta("other", INFO.key, INFO) == ObjectMeta()
    replaced = ObjectMeta(content_type="text/plain")
    records.put_object_meta("b", INFO.key, INFO, replaced)  # the last writer wins
    assert records.object_meta("b", INFO.key, INFO) == replaced
    records.drop_object_meta("b", INFO.key)
    assert records.object_meta("b", INFO.key, INFO) == ObjectMeta()
    records.drop_object_meta("b", INFO.key)  # again: not an error


def test_a_record_describes_only_the_object_it_was_written_for(records: SqlObjectMeta) -> None:
    records.put_object_meta("b", INFO.key, INFO, META)
    rewritten = ObjectInfo(INFO.key, INFO.size, INFO.last_modified + 9, '"other"')
    resized = ObjectInfo(INFO.key, INFO.size + 1, INFO.last_modified, INFO.etag)
    assert records.object_meta("b", INFO.key, rewritten) == ObjectMeta()
    assert records.object_meta("b", INFO.key, resized) == ObjectMeta()
    touched = ObjectInfo(INFO.key, INFO.size, INFO.last_modified + 9, INFO.etag)
    assert records.object_meta("b", INFO.key, touched) == META  # same bytes


def test_an_empty_record_removes_the_old_one(records: SqlObjectMeta) -> None:
    records.put_object_meta("b", INFO.key, INFO, META)
    records.put_object_meta("b", INFO.key, INFO, ObjectMeta())
    with records.engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(schema.s3_objects))
        assert count.scalar() == 0


def test_listing_lookups_keep_order_across_chunks(records: SqlObjectMeta) -> None:
    infos = [ObjectInfo(f"k/{n:04d}", n, 1.0, f'"{n}"') for n in range(1200)]
    for info in infos[::100]:
        records.put_object_meta("b", info.key, info, ObjectMeta(metadata={"n": info.key}))
    long_key = ObjectInfo("L" * 1024, 1, 1.0, '"x"')  # keys are stored by their hash
    records.put_object_meta("b", long_key.key, long_key, ObjectMeta(content_type="a/b"))
    found = records.object_metas("b", [*reversed(infos), long_key, long_key])
    expected = [
        ObjectMeta(metadata={"n": info.key}) if n % 100 == 0 else ObjectMeta()
        for n, info in enumerate(infos)
    ]
    assert found == [*reversed(expected), ObjectMeta("a/b"), ObjectMeta("a/b")]
    assert records.object_metas("b", []) == []


def test_bucket_records(records: SqlObjectMeta) -> None:
    assert records.bucket_record("b") is None
    records.record_bucket("b", "eu-west-1", 100.5)
    records.record_bucket("c", "us-east-1", 200.0)
    records.record_bucket("c", "us-west-2", 300.0)  # recreated: replaces
    assert records.bucket_record("b") == BucketRecord(100.5, "eu-west-1")
    assert records.bucket_records() == {
        "b": BucketRecord(100.5, "eu-west-1"),
        "c": BucketRecord(300.0, "us-west-2"),
    }
    records.put_object_meta("b", INFO.key, INFO, META)
    records.put_object_meta("c", INFO.key, INFO, META)
    records.drop_bucket_records("b")
    assert records.bucket_record("b") is None
    assert records.object_meta("b", INFO.key, INFO) == ObjectMeta()
    assert records.object_meta("c", INFO.key, INFO) == META  # other buckets stay


def test_the_job_store_shares_its_engine_for_records(store_url: str) -> None:
    store = SqlJobStore(store_url)
    try:
        store.record_bucket("b", "us-east-1", 1.0)
        store.put_object_meta("b", INFO.key, INFO, META)
    finally:
        store.close()
    records = SqlObjectMeta(store_url)
    try:
        assert records.object_meta("b", INFO.key, INFO) == META
    finally:
        records.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def version_5_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at schema version 5 (before the S3 records)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'v5.db'}"
    else:
        url = create_schema(request.getfixturevalue("pg_url"))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for migration in MIGRATIONS[:5]:
                migration.apply(connection)
            schema.schema_version.create(connection)
            connection.execute(schema.schema_version.insert().values(version=5))
            assert not sa.inspect(connection).has_table("s3_objects")
    finally:
        engine.dispose()
    return url


def test_a_version_5_database_gains_the_s3_records(version_5_url: str) -> None:
    engine = sa.create_engine(version_5_url)
    try:
        assert migrate(engine) == 5
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            assert {"s3_buckets", "s3_objects"} <= tables
            assert current_version(connection) == LATEST_VERSION
        with engine.begin() as connection:  # applying it again changes nothing
            MIGRATIONS[5].apply(connection)
    finally:
        engine.dispose()
    records = SqlObjectMeta(version_5_url)
    try:
        records.put_object_meta("b", INFO.key, INFO, META)
        assert records.object_meta("b", INFO.key, INFO) == META
    finally:
        records.close()
