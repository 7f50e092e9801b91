"""Sandboxed warm starts: an instance forked from a zygote that waited in its sandbox sees
exactly what a cold sandboxed instance sees, and is stopped the same way."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from jobs.conftest import JobKit, wait_for_status, wait_until
from warmpool.conftest import POOL_READY_SECONDS, pool_status

from sandbox.conftest import SandboxServerPool
from sandbox.test_sandbox_stop import ESCAPEES, marked, needs_cgroups
from sandbox.test_sandbox_view import CONTAINER_PATHS

WARM_ENV = {
    "HYBRIDJOBS_WARM_POOL": "true",
    "HYBRIDJOBS_WARM_POOL_SIZE": "1",
    "HYBRIDJOBS_SANDBOX_PIDS_MAX": "64",
}


@pytest.fixture(scope="module")
def warm_boxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """A sandboxed server with a pool of one sandboxed zygote, handed out once it is full."""
    pool = SandboxServerPool(lambda: tmp_path_factory.mktemp("warm-boxed"))
    try:
        kit = pool.start(env=WARM_ENV)
        status = pool_status(kit, POOL_READY_SECONDS)
        assert status["ready"] == 1, status
        yield kit
    finally:
        pool.close()


def test_warm_sandboxed_instance_sees_the_container(warm_boxed: JobKit) -> None:
    for round_number in range(2):  # the second forks from the replacement zygote
        status = pool_status(warm_boxed, POOL_READY_SECONDS)
        assert status["ready"] == 1, status
        job = warm_boxed.run_ok(CONTAINER_PATHS, hyperParameters={"alpha": str(round_number)})
        seen = json.loads(warm_boxed.results(job)["seen.json"])
        assert seen["hp"]["alpha"] == str(round_number)
        assert seen["results_dir"] == "/opt/ml/model"
        assert seen["hostname"] == "algo-1"
        # /opt/jobs holds the SDK's default checkpoint directory, bound in every slot.
        assert {"braket", "ml"} <= set(seen["opt"]) <= {"braket", "ml", "jobs"}, seen["opt"]
        assert len(seen["pids"]) <= 4, seen["pids"]  # init, zygote, instance (+ listdir)
    launches = pool_status(warm_boxed)["launches"]
    assert launches == {"warm": 2, "cold": 0}, launches


@needs_cgroups
def test_warm_sandboxed_escapees_are_stopped_by_cancel(warm_boxed: JobKit) -> None:
    status = pool_status(warm_boxed, POOL_READY_SECONDS)
    assert status["ready"] == 1, status
    marker = f"hj-escapee-{uuid.uuid4().hex[:10]}"
    arn = warm_boxed.create(ESCAPEES, hyperParameters={"marker": marker})
    wait_for_status(warm_boxed.braket, arn, {"RUNNING"})
    wait_until(lambda: len(marked(marker)) >= 3, what="the setsid child and the fork bomb")
    warm_boxed.braket.cancel_job(jobArn=arn)
    job = wait_for_status(warm_boxed.braket, arn, {"CANCELLED"})
    assert marked(marker) == []
    warm_boxed.assert_no_processes(job["jobArn"])
    assert pool_status(warm_boxed)["launches"]["cold"] == 0
