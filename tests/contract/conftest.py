"""Fixtures shared by the store contract suites: an empty, migrated store on every SQL
backend (a new SQLite file, or the emptied PostgreSQL schema of the session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.postgres import create_schema

from hybridjobs.store import schema
from hybridjobs.store.sql import SqlJobStore


@pytest.fixture(scope="session")
def pg_store_url(pg_url: str) -> str:
    """A schema of the session's PostgreSQL database, migrated once for all tests."""
    url = create_schema(pg_url)
    SqlJobStore(url).close()
    return url


def truncate_all(url: str) -> None:
    """Empty every table except the schema version (faster than a schema per test)."""
    names = ", ".join(t.name for t in schema.metadata.sorted_tables if t.name != "schema_version")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated store: a new SQLite file, or the emptied PostgreSQL
    schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_store_url")
    truncate_all(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlJobStore]:
    opened = SqlJobStore(store_url)
    try:
        yield opened
    finally:
        opened.close()
