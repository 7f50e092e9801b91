"""What an instance's process sees: a clean environment, and distribution settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobs.conftest import JobKit, ServerPool

DUMP_ENV = """
import json, os, pathlib
host = os.environ["SM_CURRENT_HOST"]
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], f"env-{host}.json").write_text(
    json.dumps(dict(os.environ)))
"""


def test_server_secrets_do_not_reach_the_job(servers: ServerPool) -> None:
    kit = servers.start(env={"MY_SERVER_SECRET": "xyz", "AWS_SECRET_ACCESS_KEY": "server-key"})
    job = kit.run_ok(DUMP_ENV)
    env = json.loads(kit.results(job)["env-algo-1.json"])
    assert "MY_SERVER_SECRET" not in env
    assert "xyz" not in env.values()
    assert env["AWS_SECRET_ACCESS_KEY"] != "server-key"
    # The service's own settings never reach a job; on a cluster the instance is told the
    # node it runs on, and nothing else.
    exposed = {name for name in env if name.startswith("HYBRIDJOBS_")}
    assert exposed == ({"HYBRIDJOBS_NODE_ID"} if kit.runner == "ray" else set()), exposed
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["AWS_ENDPOINT_URL_BRAKET"] == kit.server.url


def test_data_parallel_sets_torch_distributed_variables(jobs: JobKit) -> None:
    job = jobs.run_ok(
        DUMP_ENV,
        instanceConfig={"instanceCount": 2},
        hyperParameters={"sagemaker_distributed_dataparallel_enabled": "true"},
    )
    members = jobs.results(job)
    envs = [json.loads(members[f"env-algo-{i}.json"]) for i in (1, 2)]
    ports = {env["MASTER_PORT"] for env in envs}
    assert len(ports) == 1 and int(ports.pop()) > 0
    for rank, env in enumerate(envs):
        assert env["MASTER_ADDR"] in jobs.master_addresses(job["jobArn"])
        assert env["WORLD_SIZE"] == "2"
        assert env["RANK"] == str(rank)
        assert env["LOCAL_RANK"] == "0"


def test_no_distribution_variables_by_default(jobs: JobKit) -> None:
    job = jobs.run_ok(DUMP_ENV)
    env = json.loads(jobs.results(job)["env-algo-1.json"])
    assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & set(env)


def test_mpi_without_mpirun_fails_with_advice(servers: ServerPool, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-open-mpi" / "mpirun")
    jobs = servers.start(env={"HYBRIDJOBS_MPIRUN": missing})
    job = jobs.run(DUMP_ENV, hyperParameters={"sagemaker_mpi_enabled": "true"})
    assert job["status"] == "FAILED"
    assert "Open MPI" in job["failureReason"] and missing in job["failureReason"], job
    assert "install" in job["failureReason"]
    assert not jobs.results_path(job).exists()
    jobs.assert_no_processes(job["jobArn"])


MPI_RANKS = """
import os, pathlib
rank = os.environ["OMPI_COMM_WORLD_RANK"]
size = os.environ["OMPI_COMM_WORLD_SIZE"]
print(f"rank {rank} of {size}", flush=True)
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], f"rank-{rank}.txt").write_text(size)
"""


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI is not installed here")
def test_mpi_job_runs_every_rank_under_mpirun(jobs: JobKit) -> None:
    job = jobs.run_ok(
        MPI_RANKS,
        instanceConfig={"instanceCount": 2},
        hyperParameters={"sagemaker_mpi_enabled": "true"},
    )
    members = jobs.results(job)
    assert {name for name in members if name.startswith("rank-")} == {"rank-0.txt", "rank-1.txt"}
    assert all(members[f"rank-{r}.txt"] == b"2" for r in (0, 1))
