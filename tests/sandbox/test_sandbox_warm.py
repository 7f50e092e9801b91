"""Sandboxed warm starts, both ways (an instance forked from a reusable zygote makes its
sandbox itself; or a one-shot zygote waits in the sandbox of a future instance): the
instance sees exactly what a cold sandboxed instance sees, and is stopped the same way."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from jobs.conftest import BUCKET, JobKit, wait_for_status, wait_until
from warmpool.conftest import POOL_READY_SECONDS, pool_status

from sandbox.conftest import SMALL_MEMORY_GIB, SMALL_TYPE, SandboxServerPool
from sandbox.test_sandbox_stop import ESCAPEES, MEMORY_HOG, marked, needs_cgroups
from sandbox.test_sandbox_view import CONTAINER_PATHS

WARM_ENV = {
    "HYBRIDJOBS_WARM_POOL": "true",
    "HYBRIDJOBS_WARM_POOL_SIZE": "1",
    "HYBRIDJOBS_SANDBOX_PIDS_MAX": "64",
}


WARM_STARTS = ["in-place", "zygotes"]
"""Both ways a sandboxed instance starts warm: it makes its sandbox itself as it is forked
from a reusable zygote, or it is forked by a one-shot zygote waiting in its sandbox."""


@pytest.fixture(scope="module", params=WARM_STARTS)
def warm_boxed(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[JobKit]:
    """A sandboxed server with a pool of one zygote, handed out once it is full."""
    pool = SandboxServerPool(lambda: tmp_path_factory.mktemp("warm-boxed"))
    try:
        kit = pool.start(env={**WARM_ENV, "HYBRIDJOBS_SANDBOX_WARM_STARTS": request.param})
        status = pool_status(kit, POOL_READY_SECONDS)
        assert status["ready"] == 1, status
        assert status["sandbox"] == request.param, status
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


CUSTOM_CHECKPOINTS = """
import json, os, pathlib
ckpt = pathlib.Path(os.environ["AMZN_BRAKET_CHECKPOINT_DIR"])
(ckpt / "state.json").write_text('{"step": 7}')
pathlib.Path("/opt/ml/model/seen.json").write_text(json.dumps({
    "checkpoints": str(ckpt),
    "listing": sorted(os.listdir(ckpt)),
}))
"""


def test_warm_sandboxed_instance_with_another_checkpoint_path(warm_boxed: JobKit) -> None:
    status = pool_status(warm_boxed, POOL_READY_SECONDS)
    assert status["ready"] == 1, status
    before = status["launches"]["warm"]
    checkpoints = {"localPath": "/opt/custom/ckpt", "s3Uri": f"s3://{BUCKET}/custom-ckpt"}
    job = warm_boxed.run_ok(CUSTOM_CHECKPOINTS, checkpointConfig=checkpoints)
    seen = json.loads(warm_boxed.results(job)["seen.json"])
    assert seen == {"checkpoints": "/opt/custom/ckpt", "listing": ["state.json"]}, seen
    written = warm_boxed.instance_dir(job["jobArn"]) / "_root/opt/custom/ckpt/state.json"
    assert written.read_text() == '{"step": 7}'  # where the service uploads it from
    launches = pool_status(warm_boxed)["launches"]
    assert launches["warm"] == before + 1 and launches["cold"] == 0, launches


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


EACH_HOST = """
import json, os, pathlib, socket
host = os.environ["SM_CURRENT_HOST"]
model = pathlib.Path("/opt/ml/model")
(model / f"mine-{host}.txt").write_text(host)
parent = pathlib.Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\\0")
config = json.loads(pathlib.Path("/opt/ml/input/config/resourceconfig.json").read_text())
(model / f"seen-{host}.json").write_text(json.dumps({
    "hostname": socket.gethostname(),
    "current_host": config["current_host"],
    "parent": [part.decode() for part in parent],
    "model": sorted(os.listdir(model)),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
}))
"""


@pytest.fixture(scope="module", params=WARM_STARTS)
def warm_boxed_three(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[JobKit]:
    """A sandboxed server with a pool of three zygotes (one-shot ones: algo-1 … algo-3)."""
    pool = SandboxServerPool(lambda: tmp_path_factory.mktemp("warm-boxed-3"))
    try:
        env = {"HYBRIDJOBS_WARM_POOL_SIZE": "3", "HYBRIDJOBS_SANDBOX_WARM_STARTS": request.param}
        kit = pool.start(env={**WARM_ENV, **env})
        status = pool_status(kit, POOL_READY_SECONDS)
        assert status["ready"] == 3, status
        yield kit
    finally:
        pool.close()


def test_every_instance_of_a_sandboxed_job_starts_warm(warm_boxed_three: JobKit) -> None:
    hosts = ["algo-1", "algo-2", "algo-3"]
    job = warm_boxed_three.run_ok(EACH_HOST, instanceConfig={"instanceCount": 3})
    members = warm_boxed_three.results(job)
    for host in hosts:
        seen = json.loads(members[f"seen-{host}.json"])
        assert seen["hostname"] == host and seen["current_host"] == host, seen
        # Forked by a zygote that waited in this instance's own sandbox ...
        assert "hybridjobs.runners.zygote" in seen["parent"], seen["parent"]
        assert len(seen["pids"]) <= 4, seen["pids"]
        # ... whose /opt/ml is this instance's alone.
        assert seen["model"] == [f"mine-{host}.txt"], seen["model"]
    assert pool_status(warm_boxed_three)["launches"] == {"warm": 3, "cold": 0}


@needs_cgroups
def test_warm_sandboxed_memory_hog_fails_naming_the_instance_types_memory(
    warm_boxed: JobKit,
) -> None:
    status = pool_status(warm_boxed, POOL_READY_SECONDS)
    assert status["ready"] == 1, status
    before = pool_status(warm_boxed)["launches"]["warm"]
    job = warm_boxed.run(MEMORY_HOG, instanceConfig={"instanceType": SMALL_TYPE})
    assert job["status"] == "FAILED", job
    reason = job["failureReason"]
    assert "out of memory" in reason and f"{SMALL_MEMORY_GIB:g} GiB" in reason, reason
    assert pool_status(warm_boxed)["launches"]["warm"] == before + 1
