"""The Ray runner: a job's instances on the machines of a Ray cluster.

The N instances of a job are reserved together in one placement group (one bundle per
instance with the instance type's vCPUs, memory and GPUs; strategy ``SPREAD``, or
``STRICT_SPREAD`` when the job asks for it), so a job starts whole or waits QUEUED. Each
instance is run by an :class:`~hybridjobs.agent.agent.InstanceAgent` inside a detached,
named Ray actor on its bundle: the agent works in a directory of its node and talks to
the service only through its S3 and Logs surfaces. Placement groups and actors are named
after the job (``hybridjobs-<job id>``, ``hybridjobs-<job id>-algo-N`` in the
``hybridjobs`` namespace), so a scheduler that restarts finds them again.

This module imports ``ray``; nothing else in hybridjobs does, so ``ray`` (the
``hybridjobs[ray]`` extra) is needed only with ``--runner ray``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    remove_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from hybridjobs.agent.agent import AgentReport, InstanceAgent
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.jobs.admission import Capacity
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.model import Job
from hybridjobs.runners.cluster import InstanceLost, RemoteInstance

log = logging.getLogger(__name__)

NAMESPACE = "hybridjobs"
_GIB = 2**30
_POLL_INTERVAL = 0.1
_NEW_GROUP_WAIT = 0.5
"""How long admission waits for a new placement group before the queue moves on (and
asks again at the next pass)."""
_CALL_TIMEOUT = 30.0


@ray.remote(max_restarts=0)
class InstanceActor:
    """Runs one instance's agent on the node Ray placed it on, under
    ``<tmp>/hybridjobs-agent/<node id[:16]>`` (the instance's directory is removed once it
    has ended, before its report is given)."""

    def __init__(self, plan_json: str) -> None:
        self.plan = AgentPlan.from_json(plan_json)
        self.node_id = ray.get_runtime_context().get_node_id()
        self.address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        self.work_dir = Path(tempfile.gettempdir()) / "hybridjobs-agent" / self.node_id[:16]
        self.agent: InstanceAgent | None = None
        self.endpoint_url: str | None = None
        self.report: dict[str, Any] | None = None
        self.error: str | None = None
        self.stop_requested = False
        self._thread: threading.Thread | None = None

    def where(self) -> tuple[str, str, str]:
        """``(node id, node address, the instance's directory on the node)``."""
        return self.node_id, self.address, str(self.plan.instance_dir(self.work_dir))

    def start(self, master_addr: str) -> None:
        """Start the agent (once; later calls do nothing)."""
        if self._thread is not None:
            return
        self.agent = InstanceAgent(
            self.plan, self.work_dir, master_addr=master_addr, node_id=self.node_id
        )
        if self.endpoint_url is not None:
            self.agent.redirect(self.endpoint_url)
        if self.stop_requested:
            self.agent.stop()
        self._thread = threading.Thread(target=self._run, name="agent", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.agent is not None
        try:
            report = self.agent.run().to_dict()
        except BaseException as exc:
            log.exception("the agent of %s failed", self.plan.host)
            self.agent.cleanup()
            self.error = "".join(traceback.format_exception_only(exc)).strip()
        else:
            self.agent.cleanup()
            self.report = report

    def poll(self) -> dict[str, Any]:
        """``{"started": bool, "report": dict | None, "error": str | None}``: whether the
        instance's process runs, the agent's report once the instance has ended and its
        files are gone, and what made the agent itself fail."""
        started = self.agent is not None and self.agent.started
        return {"started": started, "report": self.report, "error": self.error}

    def stop(self) -> None:
        self.stop_requested = True
        if self.agent is not None:
            self.agent.stop()

    def redirect(self, endpoint_url: str) -> None:
        """The service listens at ``endpoint_url`` now (it restarted)."""
        self.endpoint_url = endpoint_url
        if self.agent is not None:
            self.agent.redirect(endpoint_url)


class RayInstance:
    """A :class:`~hybridjobs.runners.cluster.RemoteInstance` run by an InstanceActor."""

    def __init__(
        self, host: str, name: str, actor: Any, node_id: str, address: str, instance_dir: str
    ) -> None:
        self.host = host
        self.name = name
        self.actor = actor
        self.node_id = node_id
        self.address = address
        self.instance_dir = instance_dir
        self.started = False
        self._report: AgentReport | None = None
        self._next_poll = 0.0

    def poll(self) -> AgentReport | None:
        if self._report is not None or time.monotonic() < self._next_poll:
            return self._report
        self._next_poll = time.monotonic() + _POLL_INTERVAL
        try:
            answer = ray.get(self.actor.poll.remote(), timeout=_CALL_TIMEOUT)
        except GetTimeoutError:
            return None  # a busy node answers later
        except RayActorError as exc:
            raise InstanceLost(self._lost(exc)) from exc
        if answer["error"] is not None:
            raise InstanceLost(
                f"the agent of {self.host} on node {self.node_id} failed: {answer['error']}"
            )
        self.started = self.started or bool(answer["started"])
        if answer["report"] is not None:
            self._report = AgentReport.from_dict(answer["report"])
            self.started = self.started or self._report.started
        return self._report

    def stop(self) -> None:
        with contextlib.suppress(RayActorError):  # gone already
            self.actor.stop.remote()

    def redirect(self, endpoint_url: str) -> None:
        with contextlib.suppress(RayActorError):  # gone: the next poll says so
            self.actor.redirect.remote(endpoint_url)

    def to_state(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "name": self.name,
            "node_id": self.node_id,
            "address": self.address,
            "instance_dir": self.instance_dir,
        }

    def _lost(self, exc: BaseException) -> str:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"{self.host} was lost: its Ray actor on node {self.node_id} ({self.address}) "
            f"died ({first}); the node may have left the cluster"
        )


class RayRunner:
    """Runs job instances on the Ray cluster at ``address`` (see the module docstring)."""

    name = "ray"

    def __init__(self, address: str | None) -> None:
        ray.init(
            address=address,
            namespace=NAMESPACE,
            ignore_reinit_error=True,
            log_to_driver=False,
            configure_logging=False,
        )
        self._groups: dict[str, PlacementGroup] = {}
        self._ready: dict[str, Any] = {}
        """Per job, the one ``ready()`` reference of its group, asked again at each pass:
        a new reference per pass may not resolve for a long time after the group is."""
        self._lock = threading.Lock()

    # -- admission ------------------------------------------------------------------------

    def capacity(self) -> Capacity:
        return _capacity(ray.cluster_resources())  # type: ignore[no-untyped-call]

    def largest_machine(self) -> Capacity:
        machines = [_capacity(node["Resources"]) for node in _alive_nodes()]
        return max(
            machines, key=lambda c: (c.gpus, c.vcpus, c.memory_gib), default=Capacity(0, 0, 0)
        )

    def never_fits(self, job: Job, resources: InstanceResources, strategy: str) -> str | None:
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
        for index in range(1, job.instance_count + 1):
            with contextlib.suppress(ValueError):  # never started, or gone
                ray.kill(ray.get_actor(_actor_name(job, f"algo-{index}"), namespace=NAMESPACE))
        group = group or _existing_group(job)
        if group is not None:
            remove_placement_group(group)

    # -- instances ------------------------------------------------------------------------

    def start(
        self, job: Job, resources: InstanceResources, plans: Sequence[AgentPlan]
    ) -> list[RemoteInstance]:
        group = self._groups.get(job.job_arn) or get_placement_group(_group_name(job))
        actors = []
        for index, plan in enumerate(plans):
            name = _actor_name(job, plan.host)
            actors.append(
                InstanceActor.options(  # type: ignore[attr-defined]
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
            )
        places = ray.get([actor.where.remote() for actor in actors], timeout=120)
        master_addr = places[0][1]
        ray.get([actor.start.remote(master_addr) for actor in actors], timeout=_CALL_TIMEOUT)
        return [
            RayInstance(plan.host, _actor_name(job, plan.host), actor, *place)
            for plan, actor, place in zip(plans, actors, places, strict=True)
        ]

    def attach(self, job: Job, states: Sequence[Mapping[str, Any]]) -> list[RemoteInstance]:
        found: list[RemoteInstance] = []
        for state in states:
            try:
                actor = ray.get_actor(str(state["name"]), namespace=NAMESPACE)
            except ValueError as exc:
                raise InstanceLost(
                    f"{state['host']} was lost: its Ray actor on node {state['node_id']} is gone"
                ) from exc
            found.append(
                RayInstance(
                    str(state["host"]),
                    str(state["name"]),
                    actor,
                    str(state["node_id"]),
                    str(state["address"]),
                    str(state.get("instance_dir", "")),
                )
            )
        return found

    def close(self) -> None:
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


def _actor_name(job: Job, host: str) -> str:
    return f"hybridjobs-{job.job_id}-{host}"
