"""Fixtures of the usage tests: job-running servers (``jobs.conftest``'s pool), and a
task-running server per store backend (SQLite and PostgreSQL) shared by the package."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import ServerPool
from support.postgres import create_schema
from support.server import LiveServer, start_server
from tasks.conftest import BUCKET, REGION, TASK_SERVER_ENV

USAGE_TASK_ENV = {**TASK_SERVER_ENV, "HYBRIDJOBS_TASK_WORKERS_PRESTART": "true"}
"""The quantum-task server's settings, with the validator warm-up racing first requests
(it once deadlocked them; see ``engines.validate_request``)."""

NO_SCHEDULER = {"HYBRIDJOBS_RUN_SCHEDULER": "false"}


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    """Servers of this test's own; stopped and reaped at the end."""
    counter = iter(range(1_000))
    pool = ServerPool(lambda: tmp_path / f"server-{next(counter)}")
    try:
        yield pool
    finally:
        pool.close()


@dataclass
class TaskServers:
    """One backend's database and the servers started on it (the first is the module's)."""

    backend: str
    db_url: str
    factory: pytest.TempPathFactory
    started: list[LiveServer]

    def start(self) -> LiveServer:
        """An API process on the database, with the default output bucket. Only the first
        runs a scheduler (and the task workers): the others have object stores of their
        own, so the first writes every task's results where clients of the first read."""
        env = USAGE_TASK_ENV if not self.started else {**USAGE_TASK_ENV, **NO_SCHEDULER}
        live = start_server(
            self.factory.mktemp(f"usage-{self.backend}"),
            env=env,
            extra_args=("--db-url", self.db_url),
        )
        self.started.append(live)
        s3 = live.client("s3")
        if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        return live


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def task_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TaskServers]:
    """A task-running server on each store backend, shared by the package; tests may
    start more API processes on the same database (``start``)."""
    backend: str = request.param
    if backend == "postgresql":
        db_url = create_schema(request.getfixturevalue("pg_url"))
    else:
        db_url = f"sqlite:///{tmp_path_factory.mktemp('usage-db')}/hybridjobs.db"
    servers = TaskServers(backend, db_url, tmp_path_factory, [])
    try:
        servers.start()
        yield servers
    finally:
        codes = {live.url: live.stop() for live in servers.started}
        assert all(code == 0 for code in codes.values()), codes


@pytest.fixture
def server(task_servers: TaskServers) -> LiveServer:
    """The module's task-running server on the current backend."""
    return task_servers.started[0]


@pytest.fixture
def braket(server: LiveServer) -> Any:
    return server.client("braket", region=REGION)
