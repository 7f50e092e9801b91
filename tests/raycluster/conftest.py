"""A real two-node Ray cluster on this machine, and a hybridjobs service that runs its jobs
there (``--runner ray``).

The nodes are told apart by custom resources (``node_a`` on the head, ``node_b`` on the
second) and each has 2 CPUs, so two ``ml.m5.large`` instances (2 vCPUs each) can only run
one per node. Instances run in the agents' working directories, not the service's data
directory: processes of a job are found by its job id in their command line or working
directory (``job_processes``), or, through a :class:`JobKit`, in the directories the
runner recorded for the job (``JobKit.processes``).

``jobs`` and ``servers`` replace the fixtures of the same names from ``tests/jobs`` with
``--runner ray`` servers on the module's ``contract_cluster`` (nodes large enough for the
contract's three-instance jobs), so the job contract tests imported into
``test_contract_ray`` run on the Ray runner unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import (  # noqa: F401 - _cancel_leftover_jobs: autouse here too
    JobKit,
    ServerPool,
    _cancel_leftover_jobs,
    live_processes,
)
from support.cli import wait_for_warm_pool

NODE_CPUS = 2
NODE_MEMORY = 16 * 2**30
CONTRACT_NODE_CPUS = 4
CONTRACT_NODE_MEMORY = 32 * 2**30
"""Nodes of the contract cluster: two ``ml.m5.large`` instances each (2 vCPUs, 8 GiB), so
the contract's three-instance jobs fit the two nodes together."""


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


def start_cluster(cpus: int = NODE_CPUS, memory: int = NODE_MEMORY) -> RayCluster:
    """Two nodes of ``cpus`` CPUs and ``memory`` bytes each (Ray's logical resources)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={
            "num_cpus": cpus,
            "memory": memory,
            "resources": {"node_a": 1},
            "include_dashboard": False,
        },
    )
    second = cluster.add_node(num_cpus=cpus, memory=memory, resources={"node_b": 1})
    cluster.wait_for_nodes()
    return RayCluster(cluster, second)


class RayServerPool(ServerPool):
    """A :class:`ServerPool` whose servers run their jobs on ``cluster``
    (``--runner ray``); it reaps the jobs' processes on every node at the end.

    With ``warm`` (the default) the servers start their instances from the node pools
    (``runners/raypool.py``, one zygote per node) and :meth:`start` returns once every
    node's pool is ready, so the jobs of a test start warm; without, every instance
    starts cold in an instance actor of its own."""

    def __init__(
        self, make_dir: Callable[[], Path], cluster: RayCluster, *, warm: bool = True
    ) -> None:
        super().__init__(make_dir)
        self.cluster = cluster
        self.warm = warm

    def start(
        self,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> JobKit:
        ray_env = {
            "HYBRIDJOBS_RUNNER": "ray",
            "HYBRIDJOBS_RAY_ADDRESS": self.cluster.address,
            "HYBRIDJOBS_WARM_POOL": "true" if self.warm else "false",
            "HYBRIDJOBS_WARM_POOL_SIZE": "1",
        }
        kit = super().start(data_dir, {**ray_env, **(env or {})}, extra_args)
        kit.runner = "ray"
        if self.warm:
            wait_for_warm_pool(kit.server.url, 180)
        return kit


@contextlib.contextmanager
def ray_service(
    cluster: RayCluster, data_dir: Path, *, warm: bool = True, **env: str
) -> Iterator[JobKit]:
    """A live ``hybridjobs serve --runner ray`` on ``cluster`` (``warm``: see
    :class:`RayServerPool`); stopped at the end, when no process of its jobs may be left
    on any node."""
    pool = RayServerPool(lambda: data_dir, cluster, warm=warm)
    try:
        yield pool.start(env=env)
    finally:
        pool.close()


def _cluster_fixture(cpus: int, memory: int) -> Iterator[RayCluster]:
    cluster = start_cluster(cpus, memory)
    try:
        yield cluster
    finally:
        cluster.cluster.shutdown()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """Two nodes of 2 CPUs: one ``ml.m5.large`` instance per node."""
    yield from _cluster_fixture(NODE_CPUS, NODE_MEMORY)


@pytest.fixture(scope="module")
def contract_cluster() -> Iterator[RayCluster]:
    """Two nodes of 4 CPUs (see ``CONTRACT_NODE_CPUS``)."""
    yield from _cluster_fixture(CONTRACT_NODE_CPUS, CONTRACT_NODE_MEMORY)


@pytest.fixture(scope="module")
def jobs(
    contract_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JobKit]:
    """The ``tests/jobs`` fixture of the same name, on a ``--runner ray`` server."""
    pool = RayServerPool(lambda: tmp_path_factory.mktemp("ray-contract"), contract_cluster)
    try:
        yield pool.start()
    finally:
        pool.close()


@pytest.fixture
def servers(contract_cluster: RayCluster, tmp_path: Path) -> Iterator[ServerPool]:
    """The ``tests/jobs`` fixture of the same name; every server it starts runs its jobs
    on the module's cluster."""
    counter = iter(range(1_000))
    pool = RayServerPool(lambda: tmp_path / f"server-{next(counter)}", contract_cluster)
    try:
        yield pool
    finally:
        pool.close()


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
