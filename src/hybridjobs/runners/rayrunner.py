"""The Ray runner: a job's instances on the machines of a Ray cluster.

The N instances of a job are reserved together in one placement group (one bundle per
instance with the instance type's vCPUs, memory and GPUs; strategy ``SPREAD``, or
``STRICT_SPREAD`` when the job asks for it), so a job starts whole or waits QUEUED. With
``gpu_cpu_twins`` on a cluster without GPUs, GPU instance types reserve no GPU (they run on
CPU twins: :attr:`RayRunner.gpu_twins`). Each
instance is run by an :class:`~hybridjobs.agent.agent.InstanceAgent` on its bundle's node:
warm in the node's pool actor (``runners/raypool.py``: forked from a zygote) when it is
ready, else cold in a detached, named Ray actor of its own (``runners/rayinstances.py``).
The agent works in a directory of its node and talks to the service only through its S3
and Logs surfaces. Placement groups, pools and actors are named (``hybridjobs-<job id>``,
``hybridjobs-pool-<node id>``, ``hybridjobs-<job id>-algo-N`` in the ``hybridjobs``
namespace), so a scheduler that restarts finds them again.

This module imports ``ray``; nothing else in hybridjobs does, so ``ray`` (the
``hybridjobs[ray]`` extra) is needed only with ``--runner ray``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.util.placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    remove_placement_group,
)

from hybridjobs.agent.plan import AgentPlan
from hybridjobs.environments.placement import TWIN_GPU_CAPACITY
from hybridjobs.jobs.admission import Capacity
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.model import Job
from hybridjobs.runners.cluster import InstanceLost, RemoteInstance
from hybridjobs.runners.rayinstances import RayInstance, actor_name, start_instances
from hybridjobs.runners.raynode import NodeRetention
from hybridjobs.runners.raypool import NAMESPACE, NodePools
from hybridjobs.sandbox.setup import SandboxPolicy

log = logging.getLogger(__name__)

_GIB = 2**30
_NEW_GROUP_WAIT = 0.5
"""How long admission waits for a new placement group before the queue moves on (and
asks again at the next pass)."""


class RayRunner:
    """Runs job instances on the Ray cluster at ``address`` (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        address: str | None,
        *,
        warm_pool_size: int = 0,
        preload: Sequence[str] = (),
        sandbox: SandboxPolicy | None = None,
        gpu_cpu_twins: bool = False,
        retention: NodeRetention | None = None,
    ) -> None:
        ray.init(
            address=address,
            namespace=NAMESPACE,
            ignore_reinit_error=True,
            log_to_driver=False,
            configure_logging=False,
        )
        resources: Mapping[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.gpu_twins = gpu_cpu_twins and _capacity(resources).gpus == 0
        """GPU instance types run on CPU twins: ``--gpu-cpu-twins`` and no GPU in the
        cluster when the service connected (they then reserve no GPU)."""
        self._groups: dict[str, PlacementGroup] = {}
        self._ready: dict[str, Any] = {}
        """Per job, the one ``ready()`` reference of its group, asked again at each pass:
        a new reference per pass may not resolve for a long time after the group is."""
        self._lock = threading.Lock()
        self.pools = (
            NodePools(warm_pool_size, preload, sandbox, retention) if warm_pool_size > 0 else None
        )
        """The node pools (warm starts); ``None`` when every instance starts cold."""
        self._job_nodes: dict[str, list[str]] = {}
        if self.pools is not None:
            self.pools.ensure(force=True)

    # -- admission ------------------------------------------------------------------------

    def capacity(self) -> Capacity:
        return self._twinned(_capacity(ray.cluster_resources()))  # type: ignore[no-untyped-call]

    def largest_machine(self) -> Capacity:
        machines = [_capacity(node["Resources"]) for node in _alive_nodes()]
        return self._twinned(
            max(machines, key=lambda c: (c.gpus, c.vcpus, c.memory_gib), default=Capacity(0, 0, 0))
        )

    def _twinned(self, capacity: Capacity) -> Capacity:
        """``capacity`` with the GPUs admission counts with on CPU twins."""
        if not self.gpu_twins:
            return capacity
        return dataclasses.replace(capacity, gpus=TWIN_GPU_CAPACITY)

    def _held(self, resources: InstanceResources) -> InstanceResources:
        """What one instance holds on the cluster: no GPU on CPU twins."""
        return dataclasses.replace(resources, gpus=0) if self.gpu_twins else resources

    def never_fits(self, job: Job, resources: InstanceResources, strategy: str) -> str | None:
        resources = self._held(resources)
        bundle = _bundle(resources)
        nodes = [n["Resources"] for n in _alive_nodes()]
        fitting = sum(all(node.get(k, 0.0) >= v for k, v in bundle.items()) for node in nodes)
        if fitting == 0:
            return (
                f"one {job.instance_type} instance ({_describe(resources)}), and no node of "
                "the Ray cluster has that much"
            )
        if strategy == "STRICT_SPREAD" and fitting < job.instance_count:
            return (
                f"{job.instance_count} nodes for STRICT_SPREAD, and only {fitting} node(s) of "
                f"the Ray cluster can hold one {job.instance_type} instance"
            )
        return None

    def reserve(self, job: Job, resources: InstanceResources, strategy: str) -> bool:
        """The job's placement group, made once; one a previous scheduler made for the
        job (it stopped while the job waited) is taken over, not made twice."""
        if self.pools is not None:
            self.pools.ensure()  # nodes that joined get a pool (at most every few seconds)
        resources = self._held(resources)
        wait = 0.0
        with self._lock:
            group = self._groups.get(job.job_arn)
            if group is None:
                group = _existing_group(job) or placement_group(
                    [_bundle(resources)] * job.instance_count,
                    strategy=strategy,
                    name=_group_name(job),
                    lifetime="detached",
                )
                self._groups[job.job_arn] = group
                wait = _NEW_GROUP_WAIT  # a cluster with room grants it in milliseconds
            reference = self._ready.setdefault(job.job_arn, group.ready())
        ready, _ = ray.wait([reference], timeout=wait)
        return bool(ready)

    def release(self, job: Job) -> None:
        with self._lock:
            group = self._groups.pop(job.job_arn, None)
            self._ready.pop(job.job_arn, None)
            nodes = self._job_nodes.pop(job.job_arn, None)
        if self.pools is not None:
            self.pools.forget(job.job_id, nodes)  # None (taken over): every pool
        for index in range(1, job.instance_count + 1):
            with contextlib.suppress(ValueError):  # never started, or gone
                ray.kill(ray.get_actor(actor_name(job, f"algo-{index}"), namespace=NAMESPACE))
        group = group or _existing_group(job)
        if group is not None:
            remove_placement_group(group)

    # -- instances ------------------------------------------------------------------------

    def start(
        self, job: Job, resources: InstanceResources, plans: Sequence[AgentPlan]
    ) -> list[RemoteInstance]:
        """Warm from the node pools where they can, else cold (see
        :func:`~hybridjobs.runners.rayinstances.start_instances`)."""
        group = self._groups.get(job.job_arn) or get_placement_group(_group_name(job))
        instances = start_instances(job, self._held(resources), plans, group, self.pools)
        with self._lock:
            self._job_nodes[job.job_arn] = [instance.node_id for instance in instances]
        return list(instances)

    def attach(self, job: Job, states: Sequence[Mapping[str, Any]]) -> list[RemoteInstance]:
        found: list[RemoteInstance] = []
        for state in states:
            try:
                actor = ray.get_actor(str(state["name"]), namespace=NAMESPACE)
            except ValueError as exc:
                raise InstanceLost(
                    f"{state['host']} was lost: its Ray actor on node {state['node_id']} is gone"
                ) from exc
            key = state.get("pool_key")
            found.append(
                RayInstance(
                    str(state["host"]),
                    str(state["name"]),
                    actor,
                    str(state["node_id"]),
                    str(state["address"]),
                    str(state.get("instance_dir", "")),
                    key=str(key) if key is not None else None,
                )
            )
        return found

    def warm_status(self, wait: float = 0.0) -> dict[str, Any]:
        """The node pools' status (see :meth:`NodePools.status`), after waiting up to
        ``wait`` seconds for them to be ready; ``{"enabled": False}`` without pools."""
        if self.pools is None:
            return {"enabled": False}
        return self.pools.status(wait)

    def close(self) -> None:
        """Disconnect from the cluster. The node pools stay (detached, shared by every
        scheduler of the cluster, hosting instances a successor re-attaches to)."""
        ray.shutdown()


def _existing_group(job: Job) -> PlacementGroup | None:
    """The job's placement group if the cluster holds one (made by any scheduler)."""
    try:
        group: PlacementGroup = get_placement_group(_group_name(job))
    except ValueError:
        return None
    return group


def _alive_nodes() -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [node for node in nodes if node.get("Alive")]


def _capacity(resources: Mapping[str, float]) -> Capacity:
    return Capacity(
        float(resources.get("CPU", 0.0)),
        float(resources.get("memory", 0.0)) / _GIB,
        int(resources.get("GPU", 0)),
    )


def _bundle(resources: InstanceResources) -> dict[str, float]:
    bundle = {"CPU": float(resources.vcpus), "memory": float(int(resources.memory_gib * _GIB))}
    if resources.gpus:
        bundle["GPU"] = float(resources.gpus)
    return bundle


def _describe(resources: InstanceResources) -> str:
    gpus = f", {resources.gpus} GPU(s)" if resources.gpus else ""
    return f"{resources.vcpus:g} vCPUs, {resources.memory_gib:g} GiB{gpus}"


def _group_name(job: Job) -> str:
    return f"hybridjobs-{job.job_id}"
