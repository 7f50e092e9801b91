"""Fixtures shared by every suite: a live server, boto3 clients, PostgreSQL databases.

Override ``server_env`` or ``server_args`` in a test module (module-scoped fixtures of the
same name) to start that module's ``server`` with other settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.postgres import PostgresUnavailable, create_database, drop_database
from support.server import API_TEST_SERVER_ENV, LiveServer, ServerFactory, start_server


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Environment overrides for this module's ``server``."""
    return dict(API_TEST_SERVER_ENV)


@pytest.fixture(scope="module")
def server_args() -> tuple[str, ...]:
    """Extra ``hybridjobs serve`` arguments for this module's ``server``."""
    return ()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    server_env: dict[str, str],
    server_args: tuple[str, ...],
) -> Iterator[LiveServer]:
    """A live ``hybridjobs serve`` (SQLite in its own data directory) for one test module."""
    data_dir: Path = tmp_path_factory.mktemp("server")
    live = start_server(data_dir, env=server_env, extra_args=server_args)
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


@pytest.fixture(scope="module")
def braket(server: LiveServer) -> Any:
    """A boto3 ``braket`` client (us-west-2) for ``server``."""
    return server.client("braket")


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Start extra servers for one test: ``server_factory(env=..., extra_args=...)``.

    ``env`` defaults to the API-test settings. Every server still running at the end of the
    test is stopped, and must exit with code 0.
    """
    started: list[LiveServer] = []

    def start(env: Mapping[str, str] | None = None, extra_args: Sequence[str] = ()) -> LiveServer:
        live = start_server(
            tmp_path_factory.mktemp("server"),
            env=API_TEST_SERVER_ENV if env is None else env,
            extra_args=extra_args,
        )
        started.append(live)
        return live

    yield start
    codes = {live.url: live.stop() for live in started}
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session (dropped at the end); its SQLAlchemy URL.

    Fails, never skips, when PostgreSQL is unreachable: CI has it, and a silently skipped
    store backend is an untested one.
    """
    try:
        url = create_database()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        drop_database(url)
