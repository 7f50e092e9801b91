"""Jobs on a real two-node Ray cluster (``--runner ray``), end to end through boto3."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jobs.conftest import BUCKET, JobKit, describe, event_types, live_processes, wait_until
from support.cli import wait_for_warm_pool

from hybridjobs.jobs.model import JobStatus
from raycluster.conftest import RayCluster, job_processes, ray_service

# A data-parallel job: algo-1 listens on MASTER_ADDR:MASTER_PORT; algo-2 connects from the
# other node and says where its results directory is (in its node's agent directory). Each
# prints the node it runs on (HYBRIDJOBS_NODE_ID) and logs a metric; algo-1 saves what it
# learnt.
TWO_NODES = """
import json, os, pathlib, socket, time
from braket.jobs.metrics import log_metric

host = os.environ["SM_CURRENT_HOST"]
where = os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"]
address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print(f"{host} runs in {where} on {os.environ['HYBRIDJOBS_NODE_ID']}", flush=True)
log_metric(metric_name="loss", value=1.0 if host == "algo-1" else 2.0, iteration_number=0)
if host == "algo-1":
    with socket.create_server((address, port)) as server:
        server.settimeout(60)
        connection, _ = server.accept()
        with connection:
            heard = connection.recv(4096).decode()
    config = json.loads(
        pathlib.Path(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json").read_text())
    pathlib.Path(where, "results.json").write_text(json.dumps({
        "where": where, "heard": heard, "sm_hosts": json.loads(os.environ["SM_HOSTS"]),
        "resource_hosts": config["hosts"], "master_addr": address}))
else:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((address, port), timeout=5) as connection:
                connection.sendall(where.encode())
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
"""

SLEEPER = """
import time
print("started", flush=True)
time.sleep(300)
"""


# Says which process started it: a warm instance is a child of its node pool's zygote.
WHO_STARTED_ME = """
import os, pathlib
parent = pathlib.Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
print("parent:", parent.replace(b"\\0", b" ").decode().strip(), flush=True)
"""

SMALL_TYPE = "ml.t3.large"
"""Given 1 vCPU by the test service's instance-type table (see conftest)."""


def two_instances(kit: JobKit, script: str, **overrides: object) -> str:
    return kit.create(
        script,
        instanceConfig={"instanceType": "ml.m5.large", "instanceCount": 2},
        **overrides,  # type: ignore[arg-type]
    )


def warm_pool_status(kit: JobKit) -> dict[str, Any]:
    """The service's ``/_hybridjobs/status`` ``warm_pool``: on Ray, the node pools."""
    with urllib.request.urlopen(f"{kit.server.url}/_hybridjobs/status", timeout=60) as answer:
        pool: dict[str, Any] = json.loads(answer.read())["warm_pool"]
    return pool


def stream_lines(kit: JobKit, arn: str, host: str) -> list[str]:
    return [e.message for e in kit.store.list_log_events(arn, host)]


def test_a_two_instance_job_runs_one_instance_per_node(ray_jobs: JobKit) -> None:
    arn = two_instances(
        ray_jobs, TWO_NODES, hyperParameters={"sagemaker_distributed_dataparallel_enabled": "true"}
    )

    job = ray_jobs.wait(arn, timeout=120)

    assert job["status"] == "COMPLETED", describe(job)
    result = ray_jobs.results_json(job)
    instances = ray_jobs.job(arn).runner_state["cluster_instances"]
    assert len({i["node_id"] for i in instances}) == 2, instances  # one per node
    for instance in instances:  # each ran in its node's agent directory
        assert f"/hybridjobs-agent/{instance['node_id'][:16]}/" in instance["instance_dir"]
    wheres = [f"{i['instance_dir']}/model" for i in instances]
    assert [result["where"], result["heard"]] == wheres, result
    assert result["master_addr"] == instances[0]["address"]
    assert result["sm_hosts"] == result["resource_hosts"] == ["algo-1", "algo-2"]
    for host, where, instance in zip(("algo-1", "algo-2"), wheres, instances, strict=True):
        lines = stream_lines(ray_jobs, arn, host)  # HYBRIDJOBS_NODE_ID names its node
        assert lines.count(f"{host} runs in {where} on {instance['node_id']}") == 1, lines
    losses = collections.defaultdict(list)
    for point in ray_jobs.store.list_metrics(arn):
        losses[point.instance].append(point.value)
    assert dict(losses) == {"algo-1": [1.0], "algo-2": [2.0]}
    types = event_types(job)
    assert types[-1] == "COMPLETED" and "RUNNING" in types, types
    # model.tar.gz holds the job's results; the staged per-instance results go once the
    # job has ended.
    wait_until(
        lambda: not [o.key for o in ray_jobs.objects.list(BUCKET) if ".hybridjobs-" in o.key],
        15,
        "the staged results to be removed",
    )
    wait_until(lambda: not job_processes(ray_jobs.job(arn).job_id), 15, "no instance left")


def test_instances_start_warm_from_their_nodes_pool(ray_jobs: JobKit) -> None:
    arn = two_instances(ray_jobs, WHO_STARTED_ME)

    job = ray_jobs.wait(arn, timeout=120)

    assert job["status"] == "COMPLETED", describe(job)
    instances = ray_jobs.job(arn).runner_state["cluster_instances"]
    assert len({i["node_id"] for i in instances}) == 2, instances
    for instance in instances:  # hosted by its node's pool actor, forked by its zygote
        node = instance["node_id"]
        assert instance["name"] == f"hybridjobs-pool-{node}", instance
        assert instance["pool_key"] == f"{ray_jobs.job(arn).job_id}/{instance['host']}"
        parents = [
            line for line in stream_lines(ray_jobs, arn, instance["host"]) if "parent:" in line
        ]
        assert len(parents) == 1, parents
        assert "-m hybridjobs.runners.zygote" in parents[0], parents
        assert f"/pool/{node[:16]} " in parents[0] + " ", parents
    status = warm_pool_status(ray_jobs)
    assert status["runner"] == "ray" and status["ready"] == status["size"] == 2, status
    assert all(node["launches"]["warm"] >= 1 for node in status["nodes"]), status


def node_pool_pids(cluster: RayCluster) -> list[int]:
    """The pids of the cluster's node pool actors: the parents of their zygotes (whose
    command lines name ``/pool/<node id[:16]>``; so do the zygotes' embryos)."""
    nodes = [cluster.cluster.head_node.node_id, cluster.second.node_id]
    zygotes = [
        p.pid
        for p in live_processes()
        if "hybridjobs.runners.zygote" in p.cmdline
        and any(f"/pool/{node[:16]}" in p.cmdline for node in nodes)
    ]
    parents = set()
    for pid in zygotes:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            parents.add(int(stat[stat.rindex(")") + 2 :].split()[1]))
    return sorted(parents - set(zygotes))  # embryos share their zygote's command line


def test_a_job_starts_cold_when_its_nodes_pool_died(
    ray_cluster: RayCluster, ray_jobs: JobKit
) -> None:
    pools = node_pool_pids(ray_cluster)
    assert len(pools) == 2, pools
    for pid in pools:  # both pool actors crash (their zygotes end with them)
        os.kill(pid, signal.SIGKILL)

    arn = two_instances(ray_jobs, WHO_STARTED_ME)

    job = ray_jobs.wait(arn, timeout=120)
    assert job["status"] == "COMPLETED", describe(job)
    instances = ray_jobs.job(arn).runner_state["cluster_instances"]
    assert [i for i in instances if "pool_key" in i] == [], instances  # both went cold
    # New pools replace the dead ones, and the next job starts warm again.
    wait_for_warm_pool(ray_jobs.server.url, 180)
    again = two_instances(ray_jobs, WHO_STARTED_ME)
    assert ray_jobs.wait(again, timeout=120)["status"] == "COMPLETED"
    instances = ray_jobs.job(again).runner_state["cluster_instances"]
    assert all("pool_key" in i for i in instances), instances


def test_cancel_stops_the_instances_on_every_node(ray_jobs: JobKit) -> None:
    arn = two_instances(ray_jobs, SLEEPER)
    job_id = ray_jobs.job(arn).job_id
    wait_until(
        lambda: all("started" in stream_lines(ray_jobs, arn, h) for h in ("algo-1", "algo-2")),
        120,
        "both instances running",
    )
    assert len(job_processes(job_id)) >= 2

    ray_jobs.braket.cancel_job(jobArn=arn)

    job = ray_jobs.wait(arn, timeout=60)
    assert job["status"] == "CANCELLED", describe(job)
    wait_until(lambda: not job_processes(job_id), 15, "no process of the job on any node")


def test_max_runtime_stops_every_instance(ray_jobs: JobKit) -> None:
    arn = two_instances(ray_jobs, SLEEPER, stoppingCondition={"maxRuntimeInSeconds": 3})
    job_id = ray_jobs.job(arn).job_id

    job = ray_jobs.wait(arn, timeout=120)

    assert job["status"] == "FAILED", describe(job)
    assert "MaxRuntimeExceeded" in job["failureReason"]
    wait_until(lambda: not job_processes(job_id), 15, "no process of the job on any node")


def test_a_job_larger_than_the_cluster_is_refused(ray_jobs: JobKit) -> None:
    with pytest.raises(ClientError) as too_many:
        ray_jobs.create(
            "print('never')", instanceConfig={"instanceType": "ml.m5.large", "instanceCount": 3}
        )
    assert too_many.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    with pytest.raises(ClientError) as too_big:
        ray_jobs.create("print('never')", instanceConfig={"instanceType": "ml.m5.xlarge"})
    error = too_big.value.response["Error"]
    assert error["Code"] == "ServiceQuotaExceededException"
    assert "largest machine" in error["Message"], error


def test_strict_spread_more_instances_than_nodes_is_refused(ray_jobs: JobKit) -> None:
    arn = ray_jobs.create(
        "print('never')",
        instanceConfig={"instanceType": SMALL_TYPE, "instanceCount": 3},
        hyperParameters={"hybridjobs_placement_strategy": "STRICT_SPREAD"},
    )
    job = ray_jobs.wait(arn, timeout=30)
    assert job["status"] == "FAILED", describe(job)
    assert "STRICT_SPREAD" in job["failureReason"], job["failureReason"]


def test_a_burst_of_jobs_queues_and_drains(ray_jobs: JobKit) -> None:
    script = "import os\nprint('hello from', os.environ['SM_CURRENT_HOST'])\n"
    arns = [
        ray_jobs.create(script, instanceConfig={"instanceType": "ml.m5.large"}) for _ in range(20)
    ]

    finished = [ray_jobs.wait(arn, timeout=300) for arn in arns]

    assert [j["status"] for j in finished] == ["COMPLETED"] * 20, [
        describe(j) for j in finished if j["status"] != "COMPLETED"
    ]


def test_mpi_jobs_are_refused_with_a_reason(ray_jobs: JobKit) -> None:
    """MPI (mpirun on the service's machine) is the local runner's alone; the contract
    suite leaves its MPI tests out of test_contract_ray for this reason."""
    job = ray_jobs.run(
        "print('never')", hyperParameters={"sagemaker_mpi_enabled": "true"}, timeout=60
    )

    assert job["status"] == "FAILED", describe(job)
    assert job["failureReason"] == (
        "AlgorithmError: MPI jobs (sagemaker_mpi_enabled) run with the local runner only; "
        "this service runs jobs on a Ray cluster, exit code: 1"
    )
    assert not ray_jobs.results_path(job).exists()


def test_stopping_the_service_stops_the_instances_on_every_node(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    # The cold path (no node pools): each instance in an instance actor of its own.
    with ray_service(ray_cluster, tmp_path / "service", warm=False) as kit:
        arn = two_instances(kit, SLEEPER)
        job_id = kit.job(arn).job_id
        wait_until(
            lambda: all("started" in stream_lines(kit, arn, h) for h in ("algo-1", "algo-2")),
            120,
            "both instances running",
        )
        instances = kit.job(arn).runner_state["cluster_instances"]
        assert not [i for i in instances if "pool_key" in i], instances  # cold

        kit.server.stop()  # SIGTERM; fails unless the server exits within its grace

        job = kit.job(arn)
        assert job.status is JobStatus.FAILED, job
        assert (job.failure_reason or "").startswith("ServiceStopped:"), job.failure_reason
        wait_until(lambda: not job_processes(job_id), 15, "no process of the job on any node")
