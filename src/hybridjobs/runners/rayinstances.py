"""A job's instances on Ray: started warm from node pools or cold in actors of their own.

:func:`start_instances` starts one agent per plan on the job's placement group. An
instance whose bundle's node has a ready node pool (``runners/raypool.py``) and that
needs no GPU is launched there (a warm start: forked from a zygote); any other, and any
whose pool turns out to be gone when it is launched, runs in a detached
:class:`InstanceActor` named ``hybridjobs-<job id>-algo-N`` on its bundle (the cold
path: a new Ray worker process and a fresh interpreter). Either way the scheduler gets a
:class:`RayInstance` (the :class:`~hybridjobs.runners.cluster.RemoteInstance` of both
paths), and a restarted scheduler finds it again from :meth:`RayInstance.to_state`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import PlacementGroup
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from hybridjobs.agent.agent import AgentReport
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.model import Job
from hybridjobs.runners.cluster import InstanceLost
from hybridjobs.runners.hostedagent import HostedAgent
from hybridjobs.runners.raynode import actor_gpus, node_work_dir
from hybridjobs.runners.raypool import NAMESPACE, NodePools, instance_key, pool_name

_GIB = 2**30
_POLL_INTERVAL = 0.1
_WATCHED_POLL_INTERVAL = 1.0
"""How often a warm instance is polled besides its long poll (which answers at once)."""
_WATCH_SECONDS = 30.0
_CALL_TIMEOUT = 30.0
_PLACE_TIMEOUT = 120.0


@ray.remote(max_restarts=0)
class InstanceActor:
    """Runs one instance's agent on the node Ray placed it on (the cold path), under
    ``<tmp>/hybridjobs-agent/<node id[:16]>`` (the instance's directory is removed once it
    has ended, before its report is given). The instance sees exactly the GPUs Ray gave
    this actor (``CUDA_VISIBLE_DEVICES``; see :func:`~.raypool.actor_gpus`)."""

    def __init__(self, plan_json: str) -> None:
        self.plan = AgentPlan.from_json(plan_json)
        self.node_id = ray.get_runtime_context().get_node_id()
        self.address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        self.work_dir = node_work_dir(self.node_id)
        self.hosted = HostedAgent(
            self.plan, self.work_dir, self.node_id, visible_gpus=actor_gpus(self.plan, self.node_id)
        )

    def where(self) -> tuple[str, str, str]:
        """``(node id, node address, the instance's directory on the node)``."""
        return self.node_id, self.address, str(self.plan.instance_dir(self.work_dir))

    def start(self, master_addr: str) -> None:
        """Start the agent (once; later calls do nothing)."""
        self.hosted.start(master_addr)

    def poll(self) -> dict[str, Any]:
        """See :class:`~hybridjobs.runners.hostedagent.HostedAgent`."""
        return self.hosted.poll()

    def stop(self) -> None:
        self.hosted.stop()

    def redirect(self, endpoint_url: str) -> None:
        """The service listens at ``endpoint_url`` now (it restarted)."""
        self.hosted.redirect(endpoint_url)


class RayInstance:
    """A :class:`~hybridjobs.runners.cluster.RemoteInstance` run by an InstanceActor (the
    cold path) or, when ``key`` is given, by the node pool actor ``name`` that hosts it
    under that key (a warm start)."""

    def __init__(
        self,
        host: str,
        name: str,
        actor: Any,
        node_id: str,
        address: str,
        instance_dir: str,
        key: str | None = None,
    ) -> None:
        self.host = host
        self.key = key
        self.warm = False
        self.name = name
        self.actor = actor
        self.node_id = node_id
        self.address = address
        self.instance_dir = instance_dir
        self.started = False
        self._report: AgentReport | None = None
        self._next_poll = 0.0
        self._on_change: Callable[[], None] | None = None
        self._watching: Any = None
        """The pending long poll (``NodePool.watch``) of a warm instance, if any."""

    def poll(self) -> AgentReport | None:
        if self._report is not None:
            return self._report
        reference = self._watching
        if reference is not None and ray.wait([reference], timeout=0)[0]:
            self._watching = None  # the long poll answered: take its answer
        elif time.monotonic() < self._next_poll:
            return self._report
        else:
            reference = self._call("poll")
        self._next_poll = time.monotonic() + (
            _WATCHED_POLL_INTERVAL if self._on_change is not None else _POLL_INTERVAL
        )
        try:
            answer = ray.get(reference, timeout=_CALL_TIMEOUT)
        except GetTimeoutError:
            self._arm()
            return None  # a busy node answers later
        except RayActorError as exc:
            raise InstanceLost(self._lost(exc)) from exc
        if answer["error"] is not None:
            raise InstanceLost(
                f"the agent of {self.host} on node {self.node_id} failed: {answer['error']}"
            )
        self.started = self.started or bool(answer["started"])
        self.warm = self.warm or bool(answer.get("warm"))
        if answer["report"] is not None:
            self._report = AgentReport.from_dict(answer["report"])
            self.started = self.started or self._report.started
        self._arm()
        return self._report

    def watch(self, on_change: Callable[[], None]) -> None:
        """A warm instance long-polls its node pool; a cold one never calls back."""
        if self.key is None:
            return
        self._on_change = on_change
        self._arm()

    def _arm(self) -> None:
        """Start a long poll unless one is pending or the instance has ended; its answer
        calls ``on_change``."""
        on_change = self._on_change
        if on_change is None or self._watching is not None or self._report is not None:
            return
        reference = self.actor.watch.remote(self.key, self.started, _WATCH_SECONDS)
        self._watching = reference
        reference.future().add_done_callback(lambda _: on_change())

    def stop(self) -> None:
        with contextlib.suppress(RayActorError):  # gone already
            self._call("stop")

    def redirect(self, endpoint_url: str) -> None:
        with contextlib.suppress(RayActorError):  # gone: the next poll says so
            self._call("redirect", endpoint_url)

    def to_state(self) -> dict[str, Any]:
        state = {
            "host": self.host,
            "name": self.name,
            "node_id": self.node_id,
            "address": self.address,
            "instance_dir": self.instance_dir,
        }
        if self.key is not None:
            state["pool_key"] = self.key
        return state

    def _call(self, method: str, *args: Any) -> Any:
        """Call ``method`` of the instance's actor (with its key first on a node pool)."""
        remote = getattr(self.actor, method).remote
        return remote(*args) if self.key is None else remote(self.key, *args)

    def _lost(self, exc: BaseException) -> str:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        what = "node pool actor" if self.key is not None else "Ray actor"
        return (
            f"{self.host} was lost: its {what} on node {self.node_id} ({self.address}) "
            f"died ({first}); the node may have left the cluster"
        )


@dataclass
class _Launch:
    """One instance being started: by a node pool (``warm``) or an instance actor;
    ``place`` is ``(node id, node address, instance directory)``, for a cold one first
    the reference of its ``where()``."""

    plan: AgentPlan
    actor: Any
    name: str
    place: Any
    warm: bool


def start_instances(
    job: Job,
    resources: InstanceResources,
    plans: Sequence[AgentPlan],
    group: PlacementGroup,
    pools: NodePools | None,
) -> list[RayInstance]:
    """One agent per plan on ``group`` (bundle ``i`` for ``plans[i]``), in plan order;
    every agent learns algo-1's node address (``MASTER_ADDR``) and its own node. See the
    module docstring for which instances start warm."""
    nodes = _bundle_nodes(group) if pools is not None and not resources.gpus else {}
    launches: list[_Launch] = []
    for index, plan in enumerate(plans):
        pool = pools.ready_pool(nodes[index]) if pools is not None and index in nodes else None
        if pool is None:
            launches.append(_cold(job, resources, group, index, plan))
            continue
        actor, address, work_dir = pool
        place = (nodes[index], address, str(plan.instance_dir(Path(work_dir))))
        launches.append(_Launch(plan, actor, pool_name(nodes[index]), place, warm=True))
    _wait_placed([launch for launch in launches if not launch.warm])
    master_addr = str(launches[0].place[1])  # a cold fallback stays on the same node
    calls = [
        launch.actor.launch.remote(instance_key(launch.plan), launch.plan.to_json(), master_addr)
        if launch.warm
        else launch.actor.start.remote(master_addr)
        for launch in launches
    ]
    fallbacks: list[_Launch] = []
    for position, (launch, call) in enumerate(zip(launches, calls, strict=True)):
        try:
            ray.get(call, timeout=_CALL_TIMEOUT)
        except RayActorError:
            if not launch.warm:
                raise
            # The node's pool died before it took the instance: forget it, go cold.
            assert pools is not None
            pools.dropped(str(launch.place[0]))
            launches[position] = _cold(
                job, resources, group, launch.plan.host_index - 1, launch.plan
            )
            fallbacks.append(launches[position])
    if fallbacks:
        _wait_placed(fallbacks)
        ray.get([f.actor.start.remote(master_addr) for f in fallbacks], timeout=_CALL_TIMEOUT)
    return [
        RayInstance(
            launch.plan.host,
            launch.name,
            launch.actor,
            str(launch.place[0]),
            str(launch.place[1]),
            str(launch.place[2]),
            key=instance_key(launch.plan) if launch.warm else None,
        )
        for launch in launches
    ]


def actor_name(job: Job, host: str) -> str:
    """The cold instance actor's name: ``hybridjobs-<job id>-algo-N``."""
    return f"hybridjobs-{job.job_id}-{host}"


def _cold(
    job: Job, resources: InstanceResources, group: PlacementGroup, index: int, plan: AgentPlan
) -> _Launch:
    """Create the cold instance actor of ``plan`` on bundle ``index``; its place follows."""
    name = actor_name(job, plan.host)
    actor = InstanceActor.options(  # type: ignore[attr-defined]
        name=name,
        namespace=NAMESPACE,
        lifetime="detached",
        num_cpus=resources.vcpus,
        num_gpus=resources.gpus,
        memory=int(resources.memory_gib * _GIB),
        scheduling_strategy=PlacementGroupSchedulingStrategy(
            placement_group=group, placement_group_bundle_index=index
        ),
    ).remote(plan.to_json())
    return _Launch(plan, actor, name, actor.where.remote(), warm=False)


def _wait_placed(launches: Sequence[_Launch]) -> None:
    """Replace each cold launch's ``where()`` reference by its place."""
    places = ray.get([launch.place for launch in launches], timeout=_PLACE_TIMEOUT)
    for launch, place in zip(launches, places, strict=True):
        launch.place = place


def _bundle_nodes(group: PlacementGroup) -> dict[int, str]:
    """Bundle index -> the id of the node the placement group put it on."""
    table: dict[str, Any] = ray.util.placement_group_table(group)
    return {int(index): str(node) for index, node in table.get("bundles_to_node_id", {}).items()}
