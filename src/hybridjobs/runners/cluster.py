"""The runner protocol for clusters: where a job's instances run when that is not here.

A cluster runner places the instances of a job on machines of their own, each run by an
:class:`~hybridjobs.agent.agent.InstanceAgent` that reaches the service only through its
AWS surfaces. The scheduler asks it, in this order:

1. :meth:`ClusterRunner.never_fits` at admission: a job the cluster can never hold is
   refused;
2. :meth:`ClusterRunner.reserve` until it answers ``True``: the job's instances are
   reserved together (all or none), and the job stays QUEUED until then;
3. :meth:`ClusterRunner.start` with one plan per instance, once the job is claimed; the
   instances it returns are polled and stopped through :class:`RemoteInstance`;
4. :meth:`ClusterRunner.release` when the job has ended (or was never claimed).

A restarted scheduler finds running instances again with :meth:`ClusterRunner.attach`,
from what :meth:`RemoteInstance.to_state` recorded. The Ray runner (``runners/rayrunner.py``)
implements this; a Kubernetes or Slurm runner would be one more module like it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from hybridjobs.agent.agent import AgentReport
from hybridjobs.agent.plan import AgentPlan
from hybridjobs.jobs.admission import Capacity
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.model import Job

SPREAD_HYPERPARAMETER = "hybridjobs_placement_strategy"
"""A job asks for one instance per machine with this hyperparameter (or a tag of the same
name) set to ``STRICT_SPREAD``; the default is ``SPREAD`` (spread where possible)."""
PLACEMENT_STRATEGIES = ("SPREAD", "STRICT_SPREAD")


class RemoteInstance(Protocol):
    """One instance running on a cluster machine."""

    host: str
    node_id: str
    address: str
    started: bool
    """Whether its agent has started the instance's process (its input data and
    checkpoints are in place), as of the last :meth:`poll`."""

    def poll(self) -> AgentReport | None:
        """The instance's report once it has ended (and its agent has cleaned up);
        ``None`` while it runs. Updates :attr:`started`. Raises :class:`InstanceLost`
        when its machine or agent is gone."""
        ...

    def stop(self) -> None:
        """Ask the agent to stop the instance (SIGTERM, grace, SIGKILL); returns at once."""
        ...

    def watch(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` (from any thread, any number of times) whenever the instance
        may have started or ended, so that the caller polls at once rather than at its
        next pass. Only a hint: an instance may never call it, and the caller keeps
        polling; returns at once."""
        ...

    def redirect(self, endpoint_url: str) -> None:
        """Tell the agent where the service listens now (a restarted service may listen
        elsewhere): its output, checkpoints and results go there from now on; returns at
        once."""
        ...

    def to_state(self) -> dict[str, Any]:
        """A JSON-able record from which :meth:`ClusterRunner.attach` finds it again."""
        ...


class InstanceLost(Exception):
    """An instance's machine or agent died; the message names the instance and node."""


class ClusterRunner(Protocol):
    """Places and runs job instances on a cluster (see the module docstring)."""

    name: str
    gpu_twins: bool
    """Whether GPU instance types run on CPU twins (``--gpu-cpu-twins`` and no GPU in the
    cluster): they hold no GPU, and their instances are told so."""

    def capacity(self) -> Capacity:
        """The cluster's resources in all (what admission divides between jobs)."""
        ...

    def largest_machine(self) -> Capacity:
        """The resources of the cluster's largest machine (one instance must fit one)."""
        ...

    def never_fits(self, job: Job, resources: InstanceResources, strategy: str) -> str | None:
        """What ``job`` needs that the cluster can never give (e.g. no node holds one
        instance), phrased to follow "the job needs"; ``None`` when it can fit."""
        ...

    def reserve(self, job: Job, resources: InstanceResources, strategy: str) -> bool:
        """Reserve the job's instances together (``strategy``: one of
        ``PLACEMENT_STRATEGIES``); ``True`` once they are reserved. Call again until then:
        a reservation the cluster cannot grant yet stays pending."""
        ...

    def release(self, job: Job) -> None:
        """Stop what is left of the job's instances, give back its reservation
        (idempotent; also for a job that was never started)."""
        ...

    def start(
        self, job: Job, resources: InstanceResources, plans: Sequence[AgentPlan]
    ) -> list[RemoteInstance]:
        """Start one agent per plan on the job's reservation; returns them in plan order
        (``algo-1`` first). Every agent learns algo-1's machine address (``MASTER_ADDR``)
        and its own node."""
        ...

    def attach(self, job: Job, states: Sequence[Mapping[str, Any]]) -> list[RemoteInstance]:
        """The instances recorded by :meth:`RemoteInstance.to_state`, found again."""
        ...

    def close(self) -> None: ...


def placement_strategy(job: Job, tags: Mapping[str, str]) -> str:
    """``SPREAD`` or ``STRICT_SPREAD``, from the job's hyperparameter or tag."""
    hyperparameters = job.definition.get("hyperParameters") or {}
    wanted = str(
        hyperparameters.get(SPREAD_HYPERPARAMETER) or tags.get(SPREAD_HYPERPARAMETER) or ""
    )
    return wanted.upper() if wanted.upper() in PLACEMENT_STRATEGIES else "SPREAD"
