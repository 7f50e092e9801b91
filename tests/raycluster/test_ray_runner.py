"""Jobs on a real two-node Ray cluster (``--runner ray``), end to end through boto3."""

from __future__ import annotations

import collections

import pytest
from botocore.exceptions import ClientError
from jobs.conftest import BUCKET, JobKit, describe, event_types, wait_until

from raycluster.conftest import job_processes

# algo-1 listens on MASTER_ADDR:MASTER_PORT; algo-2 connects from the other node and says
# where it runs. Both log a metric; algo-1 saves what it learnt.
TWO_NODES = """
import json, os, pathlib, socket, time
from braket.jobs.metrics import log_metric

host = os.environ["SM_CURRENT_HOST"]
node = os.environ["HYBRIDJOBS_NODE_ID"]
address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print(f"{host} runs on node {node}", flush=True)
log_metric(metric_name="loss", value=1.0 if host == "algo-1" else 2.0, iteration_number=0)
if host == "algo-1":
    with socket.create_server((address, port)) as server:
        server.settimeout(60)
        connection, _ = server.accept()
        with connection:
            heard = connection.recv(1024).decode()
    config = json.loads(
        pathlib.Path(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json").read_text())
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(json.dumps({
        "node": node, "heard": heard, "sm_hosts": json.loads(os.environ["SM_HOSTS"]),
        "resource_hosts": config["hosts"], "master_addr": address}))
else:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((address, port), timeout=5) as connection:
                connection.sendall(node.encode())
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


SMALL_TYPE = "ml.t3.large"
"""Given 1 vCPU by the test service's instance-type table (see conftest)."""


def two_instances(kit: JobKit, script: str, **overrides: object) -> str:
    return kit.create(
        script,
        instanceConfig={"instanceType": "ml.m5.large", "instanceCount": 2},
        **overrides,  # type: ignore[arg-type]
    )


def stream_lines(kit: JobKit, arn: str, host: str) -> list[str]:
    return [e.message for e in kit.store.list_log_events(arn, host)]


def test_a_two_instance_job_runs_one_instance_per_node(ray_jobs: JobKit) -> None:
    arn = two_instances(ray_jobs, TWO_NODES)

    job = ray_jobs.wait(arn, timeout=120)

    assert job["status"] == "COMPLETED", describe(job)
    result = ray_jobs.results_json(job)
    assert result["heard"] != result["node"], result  # algo-2 ran on the other node
    assert result["sm_hosts"] == result["resource_hosts"] == ["algo-1", "algo-2"]
    for host in ("algo-1", "algo-2"):
        lines = stream_lines(ray_jobs, arn, host)
        assert (
            sum(
                line.endswith(
                    "runs on node " + (result["node"] if host == "algo-1" else result["heard"])
                )
                for line in lines
            )
            == 1
        ), lines
    losses = collections.defaultdict(list)
    for point in ray_jobs.store.list_metrics(arn):
        losses[point.instance].append(point.value)
    assert dict(losses) == {"algo-1": [1.0], "algo-2": [2.0]}
    types = event_types(job)
    assert types[-1] == "COMPLETED" and "RUNNING" in types, types
    # The staged per-instance results are gone; model.tar.gz holds the job's results.
    assert not [o.key for o in ray_jobs.objects.list(BUCKET) if ".hybridjobs-instances" in o.key]
    wait_until(lambda: not job_processes(ray_jobs.job(arn).job_id), 15, "no instance left")


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
    script = "import os\nprint('hello from', os.environ['HYBRIDJOBS_NODE_ID'])\n"
    arns = [
        ray_jobs.create(script, instanceConfig={"instanceType": "ml.m5.large"}) for _ in range(20)
    ]

    finished = [ray_jobs.wait(arn, timeout=300) for arn in arns]

    assert [j["status"] for j in finished] == ["COMPLETED"] * 20, [
        describe(j) for j in finished if j["status"] != "COMPLETED"
    ]
