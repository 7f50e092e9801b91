"""Fixtures of the warm-pool tests: live servers with and without the pool.

``both_paths`` holds two live servers side by side: ``warm`` (instances fork from a
zygote) and ``cold`` (each instance is a fresh interpreter); ``path_kit`` is parametrized
over them, so a test that takes it runs against both paths. The warm server is only
handed out once its pool is full (``GET /_hybridjobs/status?wait=``, which blocks
server-side until the zygotes are ready), and at the end its status must show that no
launch fell back to the cold path. Both servers run with sentinel variables in their own
environment (``SENTINEL_ENV``) that no instance may see.

``jobs`` and ``servers`` replace the fixtures of the same names from ``tests/jobs`` with
warm-pool servers, so the job contract tests imported into ``test_contract_warm`` run on
the warm path unchanged.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import JobKit, ServerPool

WARM_ENV: dict[str, str] = {"HYBRIDJOBS_WARM_POOL": "true", "HYBRIDJOBS_WARM_POOL_SIZE": "1"}
COLD_ENV: dict[str, str] = {"HYBRIDJOBS_WARM_POOL": "false"}
POOL_READY_SECONDS = 240.0
"""Zygotes import the Braket SDK and PennyLane: seconds on an idle machine, far more on a
loaded CI runner."""

PATH_ENV: dict[str, dict[str, str]] = {"warm": WARM_ENV, "cold": COLD_ENV}
SENTINEL = "hj-sentinel-7f3a9c"
SENTINEL_ENV: dict[str, str] = {
    "HJ_TEST_SERVER_SECRET": SENTINEL,
    "AWS_SECRET_ACCESS_KEY": SENTINEL,
}
"""Set in the servers' own environment; none of it may reach an instance."""


def service_status(url: str, wait: float = 0.0) -> dict[str, Any]:
    """``GET /_hybridjobs/status`` (``wait``: let the server wait for a full pool first)."""
    with urllib.request.urlopen(f"{url}/_hybridjobs/status?wait={wait}", timeout=wait + 30) as r:
        status: dict[str, Any] = json.load(r)
    return status


def pool_status(kit: JobKit, wait: float = 0.0) -> dict[str, Any]:
    """The warm pool part of the server's status."""
    pool: dict[str, Any] = service_status(kit.server.url, wait)["warm_pool"]
    return pool


def wait_pool_full(kit: JobKit) -> dict[str, Any]:
    """Block until the server's pool is full; its status. Fails if it never fills."""
    pool = pool_status(kit, POOL_READY_SECONDS)
    assert pool["enabled"], pool
    assert pool["ready"] == pool["size"] >= 1, f"warm pool not ready: {pool}"
    return pool


class WarmServerPool(ServerPool):
    """A :class:`ServerPool` whose servers run a warm pool, handed out once it is full."""

    def start(
        self,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> JobKit:
        kit = super().start(data_dir, {**WARM_ENV, **(env or {})}, extra_args)
        if "--no-scheduler" not in extra_args:
            wait_pool_full(kit)
        return kit


def assert_all_launches_warm(kit: JobKit) -> None:
    """Every instance the server started was forked (none fell back to the cold path)."""
    if not kit.server.running:
        return
    pool = pool_status(kit)
    assert pool["launches"]["cold"] == 0, f"some instances started cold: {pool}"
    assert pool["crashes"] == 0, f"a zygote died: {pool}"


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, JobKit]]:
    """Two job-running servers side by side: ``warm`` (its pool full) and ``cold``."""
    pool = ServerPool(lambda: tmp_path_factory.mktemp("paths"))
    try:
        kits = {path: pool.start(env={**env, **SENTINEL_ENV}) for path, env in PATH_ENV.items()}
        wait_pool_full(kits["warm"])
        yield kits
        assert_all_launches_warm(kits["warm"])
    finally:
        pool.close()


@pytest.fixture(params=["warm", "cold"])
def path(request: pytest.FixtureRequest) -> str:
    """Which path instances take: ``warm`` (forked from a zygote) or ``cold``."""
    value: str = request.param
    return value


@pytest.fixture
def path_kit(both_paths: dict[str, JobKit], path: str) -> JobKit:
    """The server of ``both_paths`` whose instances take ``path``."""
    return both_paths[path]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """The ``tests/jobs`` fixture of the same name, on a warm-pool server."""
    pool = WarmServerPool(lambda: tmp_path_factory.mktemp("warm-jobs"))
    kit = pool.start()
    try:
        yield kit
        assert_all_launches_warm(kit)
    finally:
        pool.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    """The ``tests/jobs`` fixture of the same name; every server it starts is warm."""
    counter = iter(range(1_000))
    pool = WarmServerPool(lambda: tmp_path / f"server-{next(counter)}")
    try:
        yield pool
    finally:
        pool.close()
