"""Warm starts on Ray: one long-lived pool actor per node that forks instances.

A cold instance on Ray pays for a new Ray worker process (the instance actor), the
agent's imports in it, then a fresh interpreter that imports the Braket SDK before the
job's first line: seconds. :class:`NodePool` removes all of that from a job's path. It is
a detached actor named ``hybridjobs-pool-<node id>`` (namespace ``hybridjobs``), pinned to
its node (hard node affinity) and holding no logical resources (``num_cpus=0``): the
job's placement group still reserves the instance's vCPUs, memory and GPUs, and admission
is unchanged. Inside it:

* a :class:`~hybridjobs.runners.warmpool.WarmPool` of zygotes that imported the service's
  preload list (the Braket SDK, NumPy, boto3, PennyLane), started with
  ``die_with_zygote``: a forked instance is killed by the kernel when its zygote dies,
  and a zygote exits when the pool actor's end of its channel closes, so no instance
  outlives the node's pool (as a cold instance does not outlive its actor);
* one :class:`HostedAgent` per instance it runs (keyed ``<job id>/algo-N``): the same
  :class:`~hybridjobs.agent.agent.InstanceAgent` as a cold instance actor runs, with a
  :class:`~hybridjobs.runners.warmlauncher.WarmLauncher` that forks from a zygote and
  starts a cold interpreter when none is idle (so a busy or broken pool only costs time);
* one zygote per image environment in use on the node
  (:class:`~hybridjobs.environments.pools.EnvironmentPools`, ``die_with_zygote`` too): an
  instance of an image that runs on another interpreter than the node's starts cold the
  first time, and starts that zygote, as on the local runner.

:class:`NodePools` is the runner's side: it creates the pool actors of the nodes it sees
(at start and when nodes join), knows which are ready (their zygotes are idle), and
answers which pool may take an instance on a node: only a ready pool does; otherwise, and
for instances with GPUs (Ray hands a GPU only to an actor that holds it), the runner
falls back to the cold instance actor. Pool actors are shared by every scheduler of the
cluster and outlive them: a scheduler that takes over finds them by name.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from hybridjobs.agent.plan import AgentPlan
from hybridjobs.environments.pools import EnvironmentPools
from hybridjobs.runners.hostedagent import HostedAgent
from hybridjobs.runners.local import ColdLauncher
from hybridjobs.runners.raynode import (
    NodeRetention,
    cpu_instance_gpus,
    node_confinement,
    node_has_gpus,
    node_work_dir,
    sweep_node_caches,
)
from hybridjobs.runners.warmlauncher import WarmLauncher
from hybridjobs.runners.warmpool import WarmPool
from hybridjobs.sandbox.select import Confinement, SandboxUnavailable
from hybridjobs.sandbox.setup import SandboxPolicy

log = logging.getLogger(__name__)

NAMESPACE = "hybridjobs"
POOL_PREFIX = "hybridjobs-pool-"
_ENSURE_INTERVAL = 5.0
"""How often, at most, :meth:`NodePools.ensure` looks for nodes without a pool."""
_READY_TIMEOUT = 600.0
_CALL_TIMEOUT = 30.0


def pool_name(node_id: str) -> str:
    """The pool actor's name for a node."""
    return f"{POOL_PREFIX}{node_id}"


def instance_key(plan: AgentPlan) -> str:
    """How a pool knows one instance: ``<job id>/algo-N``."""
    return f"{plan.job_id}/{plan.host}"


@ray.remote(  # type: ignore[call-overload]  # (Ray's stubs lack concurrency_groups)
    num_cpus=0,
    max_restarts=0,
    concurrency_groups={"watch": 1000},  # long polls, one per hosted instance
)
class NodePool:
    """The warm pool of one node (see the module docstring). Methods taking ``key`` act
    on one hosted instance; :meth:`forget` drops a job's instances once they have ended."""

    def __init__(
        self,
        size: int,
        preload: Sequence[str],
        policy: SandboxPolicy | None = None,
        retention: NodeRetention | None = None,
    ) -> None:
        self.node_id = ray.get_runtime_context().get_node_id()
        self.address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        self.work_dir = node_work_dir(self.node_id)
        self.has_gpus = node_has_gpus(self.node_id)
        self.policy = policy or SandboxPolicy()
        """The sandbox policy this pool's launcher serves (an instance planned under
        another one starts cold, in the sandbox its own policy asks for)."""
        self.confinement: Confinement | None = None
        with contextlib.suppress(SandboxUnavailable):  # each instance then says why
            self.confinement = node_confinement(self.policy)
        in_place = self.confinement if self.confinement and self.confinement.in_place else None
        self.pool = WarmPool(
            sys.executable,
            size,
            preload,
            self.work_dir / "pool" / self.node_id[:16],
            die_with_zygote=True,
            in_place=in_place,
        )
        self.pool.start()
        cold = ColdLauncher(sys.executable, die_with_parent=True, confinement=self.confinement)
        # One zygote per image environment in use on this node (its first instance starts
        # cold and starts it), as on the local runner.
        self.environments = EnvironmentPools(
            1,
            preload,
            self.work_dir / "pool" / "env" / self.node_id[:16],
            in_place,
            die_with_zygote=True,
        )
        self.launcher = WarmLauncher(self.pool, cold, self.environments)
        self._lock = threading.Lock()
        self._hosted: dict[str, HostedAgent] = {}
        self._forgotten: set[str] = set()
        self.retention = retention or NodeRetention()
        if self.retention.days > 0:
            threading.Thread(target=self._sweep, name="cache-sweeper", daemon=True).start()

    def _sweep(self) -> None:
        """Sweep the node's requirement caches now and then (see :class:`NodeRetention`)."""
        while True:
            try:
                removed = sweep_node_caches(self.work_dir, self.retention.days)
                if removed:
                    log.info(
                        "node %s: removed %d unused requirement installs",
                        self.node_id,
                        len(removed),
                    )
            except Exception:
                log.exception("node %s: sweeping the requirement caches failed", self.node_id)
            time.sleep(self.retention.every_seconds)

    def where(self) -> tuple[str, str, str]:
        """``(node id, node address, the node's working directory)``."""
        return self.node_id, self.address, str(self.work_dir)

    def ready(self, timeout: float) -> bool:
        """Wait until every zygote is live and idle (at most ``timeout`` s); whether so."""
        return self.pool.wait_ready(timeout)

    def launch(self, key: str, plan_json: str, master_addr: str) -> str:
        """Start the instance ``key`` of ``plan_json`` (once: a repeated call does nothing);
        returns its directory on this node."""
        plan = AgentPlan.from_json(plan_json)
        with self._lock:
            hosted = self._hosted.get(key)
            if hosted is None:
                served = self.confinement is not None and plan.sandbox_policy == self.policy
                hosted = HostedAgent(
                    plan,
                    self.work_dir,
                    self.node_id,
                    self.launcher if served else None,
                    on_finished=lambda: self._finished(key),
                    confinement=self.confinement if served else None,
                    visible_gpus=cpu_instance_gpus(plan, self.has_gpus),  # GPU types go cold
                )
                self._hosted[key] = hosted
        hosted.start(master_addr)
        return str(plan.instance_dir(self.work_dir))

    def poll(self, key: str) -> dict[str, Any]:
        """The instance's state (see :class:`HostedAgent`); an unknown key is an error."""
        hosted = self._hosted.get(key)
        if hosted is None:
            return {
                "started": False,
                "report": None,
                "error": f"the node pool on {self.node_id} has no instance {key}",
                "warm": False,
            }
        return hosted.poll()

    @ray.method(concurrency_group="watch")
    def watch(self, key: str, started: bool, timeout: float) -> dict[str, Any]:
        """:meth:`poll`, once the instance's state has moved on from ``started`` (it
        started, or its agent finished) or after ``timeout`` seconds: a long poll, on
        threads of their own so that launches and polls never wait behind it."""
        hosted = self._hosted.get(key)
        if hosted is not None:
            hosted.wait_change(started, timeout)
        return self.poll(key)

    def stop(self, key: str) -> None:
        hosted = self._hosted.get(key)
        if hosted is not None:
            hosted.stop()

    def redirect(self, key: str, endpoint_url: str) -> None:
        hosted = self._hosted.get(key)
        if hosted is not None:
            hosted.redirect(endpoint_url)

    def forget(self, job_id: str) -> None:
        """The job has ended: stop what is left of its instances here and drop their
        records once their agents are done."""
        prefix = f"{job_id}/"
        with self._lock:
            keys = [key for key in self._hosted if key.startswith(prefix)]
            self._forgotten.update(keys)
        for key in keys:
            hosted = self._hosted.get(key)
            if hosted is None:
                continue
            hosted.stop()
            if hosted.finished.is_set() or hosted.agent is None:
                self._finished(key)

    def _finished(self, key: str) -> None:
        """An agent is done (or never started): drop it if its job was forgotten."""
        with self._lock:
            if key in self._forgotten:
                self._hosted.pop(key, None)
                self._forgotten.discard(key)

    def status(self) -> dict[str, Any]:
        """The warm pool's status, its launches by path, and the instances it hosts."""
        status = self.launcher.status()
        status["node_id"] = self.node_id
        status["hosted"] = sorted(self._hosted)
        return status


class NodePools:
    """The runner's view of the node pools (see the module docstring). Thread-safe."""

    def __init__(
        self,
        size: int,
        preload: Sequence[str],
        policy: SandboxPolicy | None = None,
        retention: NodeRetention | None = None,
    ) -> None:
        self.size = size
        self.preload = list(preload)
        self.policy = policy or SandboxPolicy()
        self.retention = retention or NodeRetention()
        self._lock = threading.Lock()
        self._pools: dict[str, Any] = {}
        self._ready_refs: dict[str, Any] = {}
        self._ready: set[str] = set()
        self._addresses: dict[str, tuple[str, str]] = {}
        self._next_ensure = 0.0
        self._alive = 0

    def ensure(self, force: bool = False) -> None:
        """Create (or find) the pool of every alive node that has none yet; at most every
        few seconds unless ``force``. Returns at once: pools become ready in the
        background."""
        now = time.monotonic()
        with self._lock:
            if not force and now < self._next_ensure:
                return
            self._next_ensure = now + _ENSURE_INTERVAL
        nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        alive = {str(n["NodeID"]) for n in nodes if n.get("Alive")}
        with self._lock:
            self._alive = len(alive)
            for node_id in list(self._pools):
                if node_id not in alive:
                    self._drop(node_id)
            missing = [node_id for node_id in alive if node_id not in self._pools]
        for node_id in missing:
            try:
                actor = NodePool.options(  # type: ignore[attr-defined]
                    name=pool_name(node_id),
                    namespace=NAMESPACE,
                    lifetime="detached",
                    get_if_exists=True,
                    max_concurrency=16,  # ready() waits while launch() and poll() answer
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
                ).remote(self.size, self.preload, self.policy, self.retention)
            except Exception:  # a node that just left: the next pass drops it
                log.exception("cannot create the node pool of %s", node_id)
                continue
            with self._lock:
                self._pools[node_id] = actor
                self._ready_refs[node_id] = actor.ready.remote(_READY_TIMEOUT)

    def ready_pool(self, node_id: str) -> tuple[Any, str, str] | None:
        """``(pool actor, node address, node working directory)`` when the node's pool is
        ready to fork an instance now; ``None`` otherwise (the caller goes cold)."""
        with self._lock:
            if node_id in self._ready:
                actor = self._pools[node_id]
                address, work_dir = self._addresses[node_id]
                return actor, address, work_dir
            reference = self._ready_refs.get(node_id)
            actor = self._pools.get(node_id)
        if reference is None or actor is None:
            return None
        done, _ = ray.wait([reference], timeout=0)
        if not done:
            return None
        try:
            ok = bool(ray.get(reference))
            _, address, work_dir = ray.get(actor.where.remote(), timeout=_CALL_TIMEOUT)
        except (RayActorError, ray.exceptions.GetTimeoutError):
            with self._lock:
                self._drop(node_id)
            return None
        if not ok:  # zygotes still starting after the timeout: ask again
            with self._lock:
                self._ready_refs[node_id] = actor.ready.remote(_READY_TIMEOUT)
            return None
        with self._lock:
            self._ready.add(node_id)
            self._addresses[node_id] = (str(address), str(work_dir))
        return actor, str(address), str(work_dir)

    def status(self, wait: float = 0.0) -> dict[str, Any]:
        """``{"enabled", "runner": "ray", "size", "ready", "nodes"}``: ``size`` alive nodes
        (one pool each), ``ready`` pools with every zygote idle, and each ready pool's
        :meth:`NodePool.status`. Waits up to ``wait`` seconds for every pool to be ready."""
        self.ensure(force=True)
        with self._lock:
            pending = [ref for node, ref in self._ready_refs.items() if node not in self._ready]
            nodes = list(self._pools)
        if pending and wait > 0:
            ray.wait(pending, num_returns=len(pending), timeout=wait)
        ready = [node for node in nodes if self.ready_pool(node) is not None]
        details: list[dict[str, Any]] = []
        for node in ready:
            pool = self.ready_pool(node)
            if pool is None:
                continue
            with contextlib.suppress(RayActorError, ray.exceptions.GetTimeoutError):
                details.append(ray.get(pool[0].status.remote(), timeout=_CALL_TIMEOUT))
        return {
            "enabled": True,
            "runner": "ray",
            "size": self._alive,
            "ready": len(ready),
            "nodes": details,
        }

    def forget(self, job_id: str, node_ids: Sequence[str] | None = None) -> None:
        """Tell the pools of ``node_ids`` (all known pools when ``None``) that the job has
        ended; returns at once."""
        with self._lock:
            actors = [
                actor
                for node_id, actor in self._pools.items()
                if node_ids is None or node_id in node_ids
            ]
        for actor in actors:
            with contextlib.suppress(RayActorError):
                actor.forget.remote(job_id)

    def dropped(self, node_id: str) -> None:
        """The node's pool died: forget it (:meth:`ensure` makes a new one if the node
        is alive)."""
        with self._lock:
            self._drop(node_id)
            self._next_ensure = 0.0

    def _drop(self, node_id: str) -> None:
        self._pools.pop(node_id, None)
        self._ready_refs.pop(node_id, None)
        self._ready.discard(node_id)
        self._addresses.pop(node_id, None)
