"""A node that leaves the cluster mid-job fails the job with a reason naming the instance
and the node (a cluster of its own: the node does not come back)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs.conftest import describe, wait_until

from raycluster.conftest import RayCluster, job_processes, ray_service, start_cluster

SLEEPER = """
import time
print("started", flush=True)
time.sleep(300)
"""


@pytest.fixture
def doomed_cluster() -> Iterator[RayCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.cluster.shutdown()


def test_losing_a_node_fails_the_job_with_a_reason(
    doomed_cluster: RayCluster, tmp_path: Path
) -> None:
    with ray_service(doomed_cluster, tmp_path / "service") as kit:
        arn = kit.create(
            SLEEPER, instanceConfig={"instanceType": "ml.m5.large", "instanceCount": 2}
        )
        job_id = kit.job(arn).job_id
        wait_until(
            lambda: all(
                "started" in [e.message for e in kit.store.list_log_events(arn, host)]
                for host in ("algo-1", "algo-2")
            ),
            120,
            "both instances running",
        )
        lost_node = doomed_cluster.second.node_id

        doomed_cluster.remove_second()

        job = kit.wait(arn, timeout=120)
        assert job["status"] == "FAILED", describe(job)
        reason = job["failureReason"]
        assert lost_node in reason or lost_node[:12] in reason, reason
        assert "algo-" in reason and "lost" in reason, reason
        wait_until(lambda: not job_processes(job_id), 30, "no process of the job left")
