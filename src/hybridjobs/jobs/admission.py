"""Capacity and admission: which jobs fit the service now, and which never can."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.model import Job


@dataclass(frozen=True)
class Capacity:
    """Resources of the whole service (or what is left of them)."""

    vcpus: float
    memory_gib: float
    gpus: int

    def minus(self, other: Capacity) -> Capacity:
        return Capacity(
            self.vcpus - other.vcpus, self.memory_gib - other.memory_gib, self.gpus - other.gpus
        )

    def plus(self, other: Capacity) -> Capacity:
        return Capacity(
            self.vcpus + other.vcpus, self.memory_gib + other.memory_gib, self.gpus + other.gpus
        )

    def covers(self, need: Capacity) -> bool:
        return (
            need.vcpus <= self.vcpus + 1e-9
            and need.memory_gib <= self.memory_gib + 1e-9
            and need.gpus <= self.gpus
        )


def job_needs(resources: InstanceResources, instance_count: int) -> Capacity:
    """What a job of ``instance_count`` instances of one type needs in all."""
    return Capacity(
        resources.vcpus * instance_count,
        resources.memory_gib * instance_count,
        resources.gpus * instance_count,
    )


def capacity_in_use(
    jobs: Iterable[Job], instance_types: Mapping[str, InstanceResources]
) -> Capacity:
    """What ``jobs`` need together (jobs of a type missing from the table count nothing)."""
    used = Capacity(0, 0, 0)
    for job in jobs:
        resources = instance_types.get(job.instance_type)
        if resources is not None:
            used = used.plus(job_needs(resources, job.instance_count))
    return used


def why_never_fits(need: Capacity, total: Capacity) -> str | None:
    """Why a job needing ``need`` can never run on a service of ``total``; ``None`` if it can."""
    reasons = []
    if need.gpus > total.gpus:
        reasons.append(f"{need.gpus} GPU(s) but the service has {total.gpus}")
    if need.vcpus > total.vcpus + 1e-9:
        reasons.append(f"{need.vcpus:g} vCPUs but the service has {total.vcpus:g}")
    if need.memory_gib > total.memory_gib + 1e-9:
        reasons.append(
            f"{need.memory_gib:g} GiB of memory but the service has {total.memory_gib:g}"
        )
    return "; ".join(reasons) or None
