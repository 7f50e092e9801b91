"""A real two-node Ray cluster on this machine, and a hybridjobs service that runs its jobs
there (``--runner ray``).

The nodes are told apart by custom resources (``node_a`` on the head, ``node_b`` on the
second) and each has 2 CPUs, so two ``ml.m5.large`` instances (2 vCPUs each) can only run
one per node. Instances run in the agents' working directories, not the service's data
directory: processes of a job are found by its job id in their command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import JOBS_SERVER_ENV, JobKit, live_processes
from support.server import start_server

NODE_CPUS = 2
NODE_MEMORY = 16 * 2**30


@dataclass
class RayCluster:
    """A ``ray.cluster_utils.Cluster`` with its second node at hand (to kill it)."""

    cluster: Any
    second: Any

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def remove_second(self) -> None:
        self.cluster.remove_node(self.second, allow_graceful=False)


def start_cluster() -> RayCluster:
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={
            "num_cpus": NODE_CPUS,
            "memory": NODE_MEMORY,
            "resources": {"node_a": 1},
            "include_dashboard": False,
        },
    )
    second = cluster.add_node(num_cpus=NODE_CPUS, memory=NODE_MEMORY, resources={"node_b": 1})
    cluster.wait_for_nodes()
    return RayCluster(cluster, second)


@contextlib.contextmanager
def ray_service(cluster: RayCluster, data_dir: Path, **env: str) -> Iterator[JobKit]:
    """A live ``hybridjobs serve --runner ray`` on ``cluster``; stopped at the end."""
    server = start_server(
        data_dir,
        env={
            **JOBS_SERVER_ENV,
            "HYBRIDJOBS_RUNNER": "ray",
            "HYBRIDJOBS_RAY_ADDRESS": cluster.address,
            **env,
        },
    )
    kit = JobKit(server)
    try:
        yield kit
    finally:
        if server.running:
            server.stop()
        kit.close()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.cluster.shutdown()


@pytest.fixture(scope="module")
def ray_jobs(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """The module's service on the module's cluster. Its instance-type table adds
    ``ml.t3.large`` 1 vCPU (it has 2 on AWS), so that three instances fit two nodes."""
    data_dir = tmp_path_factory.mktemp("ray-jobs")
    types = data_dir / "instance-types.json"
    types.write_text(json.dumps({"ml.t3.large": {"vcpus": 1, "memory_gib": 4, "gpus": 0}}))
    with ray_service(ray_cluster, data_dir, HYBRIDJOBS_INSTANCE_TYPES_FILE=str(types)) as kit:
        yield kit


def job_processes(job_id: str) -> list[int]:
    """Pids of live processes that run an instance of the job (its id in their command
    line or working directory)."""
    return [
        p.pid
        for p in live_processes()
        if p.pid != os.getpid() and (job_id in p.cmdline or (p.cwd is not None and job_id in p.cwd))
    ]


def kill_job_processes(job_id: str) -> None:
    for pid in job_processes(job_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
