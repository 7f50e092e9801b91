"""Throw-away PostgreSQL databases and schemas for tests.

The server to use is ``$HJ_TEST_POSTGRES_URL`` (a SQLAlchemy URL without a database name),
by default ``postgresql+psycopg://postgres@127.0.0.1:5432/``. CI provides it; a test that
needs PostgreSQL fails (never skips) when it is unreachable.
"""

from __future__ import annotations

import os
import secrets

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
SERVER_URL_ENV = "HJ_TEST_POSTGRES_URL"


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server cannot be reached."""


def server_url() -> URL:
    return make_url(os.environ.get(SERVER_URL_ENV, DEFAULT_SERVER_URL))


def _libpq_conninfo(url: URL, database: str) -> str:
    """A libpq connection string for ``database`` on the server of ``url``."""
    parts = {
        "host": url.host or "127.0.0.1",
        "port": str(url.port or 5432),
        "user": url.username or "postgres",
        "dbname": database,
        "connect_timeout": "5",
    }
    if url.password:
        parts["password"] = str(url.password)
    return " ".join(f"{k}='{v}'" for k, v in parts.items())


def _admin(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(_libpq_conninfo(url, "postgres"), autocommit=True)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable at {url.render_as_string(hide_password=True)} "
            f"({exc}). Start it (CI runs a postgres service) or point {SERVER_URL_ENV} at one."
        ) from exc


def create_database(prefix: str = "hj_test_") -> str:
    """Create an empty database ``<prefix><random hex>``; its SQLAlchemy URL."""
    url = server_url()
    name = f"{prefix}{secrets.token_hex(6)}"
    with _admin(url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Terminate every connection to the database of ``database_url`` and drop it."""
    url = make_url(database_url)
    name = url.database
    assert name, database_url
    with _admin(url) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def create_schema(database_url: str, prefix: str = "t_") -> str:
    """Create a fresh schema in the database; a URL whose connections use only it."""
    name = f"{prefix}{secrets.token_hex(6)}"
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    finally:
        engine.dispose()
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False)
