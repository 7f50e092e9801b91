"""What a Ray node knows of itself: where its instances' files lie, the sandbox it gives
them, the GPUs an instance sees, and how long it keeps requirement installs.

Used on the node, by the pool actor (:mod:`hybridjobs.runners.raypool`) and the cold
instance actors (:mod:`hybridjobs.runners.rayinstances`).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from hybridjobs import reqcache
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.sandbox.select import Confinement
from hybridjobs.sandbox.setup import SandboxPolicy, confinement_on_node


def agents_root() -> Path:
    """Where every node of this machine keeps its instances' files: ``<tmp>/hybridjobs-agent``."""
    return Path(tempfile.gettempdir()) / "hybridjobs-agent"


def node_work_dir(node_id: str) -> Path:
    """Where instances' files lie on a node: ``<tmp>/hybridjobs-agent/<node id[:16]>``."""
    return agents_root() / node_id[:16]


def node_confinement(policy: SandboxPolicy) -> Confinement:
    """The confinement of instances on this node under ``policy`` (the instances'
    directories, every node's of this machine, hidden); ``SandboxUnavailable`` when the
    sandbox cannot run here and the policy does not allow running without it."""
    return confinement_on_node(policy, [agents_root()])


def node_has_gpus(node_id: str) -> bool:
    """Whether the Ray node ``node_id`` has GPUs (its ``GPU`` resource)."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return any(
        str(node.get("NodeID")) == node_id and float(node["Resources"].get("GPU", 0)) > 0
        for node in nodes
    )


def cpu_instance_gpus(plan: AgentPlan, has_gpus: bool) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` of an instance that gets no GPU: none (``""``) on a node
    with GPUs or for a GPU type on CPU twins, as a local instance; unset otherwise."""
    return "" if has_gpus or plan.gpu_twins else None


def actor_gpus(plan: AgentPlan, node_id: str) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` of the instance an actor of this process runs: the GPUs
    Ray gave the actor (``ray.get_gpu_ids()``) for a GPU instance type, else
    :func:`cpu_instance_gpus`."""
    if plan.instance_resources[2] > 0 and not plan.gpu_twins:
        return ",".join(str(gpu) for gpu in ray.get_gpu_ids())
    return cpu_instance_gpus(plan, node_has_gpus(node_id))


@dataclass(frozen=True)
class NodeRetention:
    """How long a node keeps requirement installs no instance used (``days``; 0 keeps
    them forever), looked at every ``every_seconds``: the service's retention settings."""

    days: float = 0.0
    every_seconds: float = 3600.0


def sweep_node_caches(work_dir: Path, days: float, now: float | None = None) -> list[Path]:
    """Remove the node's requirement installs (its own interpreter's and each image
    environment's caches under ``work_dir/cache``) that no instance used for ``days``
    and none holds now, as the service's sweeper does with its own; what it removed."""
    if days <= 0:
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    caches = work_dir / "cache"
    directories = [caches / "requirements"]
    with contextlib.suppress(OSError):
        directories += sorted((caches / "environment-requirements").iterdir())
    removed: list[Path] = []
    for directory in directories:
        if directory.is_dir():
            removed += [entry for entry, _size in reqcache.sweep(directory, cutoff)]
    return removed
