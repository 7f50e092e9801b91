"""Fixtures of the sandbox tests: job-running servers whose instances run in bubblewrap.

``jobs`` and ``servers`` replace the fixtures of the same names from ``tests/jobs`` with
sandboxed servers (``--sandbox bwrap``), so the job contract tests collected into
``test_contract_sandboxed`` run inside the sandbox unchanged. Every server has sentinel
secrets in its own environment (``SENTINEL_ENV``) and an instance type with little memory
(:data:`SMALL_TYPE`, for the memory-hog tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from jobs.conftest import JobKit, ServerPool

SENTINEL = "hj-sandbox-sentinel-5d1e"
SENTINEL_ENV: dict[str, str] = {
    "HJ_TEST_SERVER_SECRET": SENTINEL,
    "AWS_SECRET_ACCESS_KEY": SENTINEL,
}
"""Set in the servers' own environment; no instance may read any of it."""
SANDBOX_ENV: dict[str, str] = {"HYBRIDJOBS_SANDBOX": "bwrap", **SENTINEL_ENV}
SMALL_TYPE = "ml.c5.xlarge"
SMALL_MEMORY_GIB = 0.25
"""The memory of :data:`SMALL_TYPE` on these servers (the cgroup's limit)."""


class SandboxServerPool(ServerPool):
    """A :class:`ServerPool` whose servers run every instance in the bubblewrap sandbox."""

    def start(
        self,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> JobKit:
        data_dir = data_dir or self.make_dir()
        data_dir.mkdir(parents=True, exist_ok=True)
        types = data_dir.parent / f"{data_dir.name}-instance-types.json"
        types.write_text(
            json.dumps({SMALL_TYPE: {"vcpus": 1, "memory_gib": SMALL_MEMORY_GIB, "gpus": 0}})
        )
        variables = {**SANDBOX_ENV, "HYBRIDJOBS_INSTANCE_TYPES_FILE": str(types), **(env or {})}
        return super().start(data_dir, variables, extra_args)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """The ``tests/jobs`` fixture of the same name, on a sandboxed server."""
    pool = SandboxServerPool(lambda: tmp_path_factory.mktemp("boxed-jobs"))
    kit = pool.start()
    try:
        yield kit
    finally:
        pool.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    """The ``tests/jobs`` fixture of the same name; every server it starts is sandboxed."""
    counter = iter(range(1_000))
    pool = SandboxServerPool(lambda: tmp_path / f"server-{next(counter)}")
    try:
        yield pool
    finally:
        pool.close()
