"""Capacity arithmetic and the never-fits rule behind admission control."""

from __future__ import annotations

import json
from pathlib import Path

from hybridjobs.jobs.admission import Capacity, job_needs, why_never_fits
from hybridjobs.jobs.instance_types import (
    DEFAULT_INSTANCE_TYPES,
    InstanceResources,
    load_instance_types,
)

M5_LARGE = DEFAULT_INSTANCE_TYPES["ml.m5.large"]


def test_capacity_arithmetic() -> None:
    total = Capacity(10, 48, 1)
    need = Capacity(4, 16, 1)
    assert total.minus(need) == Capacity(6, 32, 0)
    assert total.minus(need).plus(need) == total
    assert total.covers(need)
    assert total.covers(total)
    assert not Capacity(3.9, 48, 1).covers(need)
    assert not Capacity(10, 15.5, 1).covers(need)
    assert not Capacity(10, 48, 0).covers(need)


def test_covers_tolerates_float_rounding() -> None:
    free = Capacity(1.0, 1.0, 0).minus(Capacity(0.7, 0.7, 0))  # 0.30000000000000004 or less
    assert free.covers(Capacity(0.3, 0.3, 0))


def test_job_needs_scales_with_instance_count() -> None:
    assert job_needs(InstanceResources(2, 8, 0), 5) == Capacity(10, 40, 0)
    assert job_needs(InstanceResources(4, 16, 1), 2) == Capacity(8, 32, 2)


def test_why_never_fits() -> None:
    total = Capacity(4, 16, 0)
    assert why_never_fits(Capacity(4, 16, 0), total) is None
    assert why_never_fits(Capacity(1, 4, 1), total) == "1 GPU(s) but the service has 0"
    assert why_never_fits(Capacity(10, 4, 0), total) == "10 vCPUs but the service has 4"
    assert why_never_fits(Capacity(1, 32.5, 0), total) == (
        "32.5 GiB of memory but the service has 16"
    )
    both = why_never_fits(Capacity(10, 32, 0), total)
    assert both is not None and "vCPUs" in both and "memory" in both


def test_default_oversubscription_fits_five_m5_large_on_two_cores() -> None:
    """The defaults (5 instance vCPUs per core, twice the memory) on a 2-core, 24 GiB
    machine: a 5-instance ml.m5.large job runs, and a second one waits for it."""
    capacity = Capacity(5.0 * 2, 2.0 * 24, 0)
    job = job_needs(M5_LARGE, 5)
    assert why_never_fits(job, capacity) is None
    assert capacity.covers(job)
    assert not capacity.minus(job).covers(job)  # a burst queues instead of thrashing
    assert not capacity.minus(job).covers(job_needs(M5_LARGE, 1))


def test_instance_type_table_override(tmp_path: Path) -> None:
    override = tmp_path / "types.json"
    override.write_text(
        json.dumps(
            {
                "ml.g4dn.xlarge": {"vcpus": 4, "memory_gib": 16, "gpus": 0},
                "ml.custom.tiny": {"vcpus": 0.5, "memory_gib": 1},
            }
        )
    )
    table = load_instance_types(override)
    assert table["ml.g4dn.xlarge"] == InstanceResources(4, 16, 0)
    assert table["ml.custom.tiny"] == InstanceResources(0.5, 1, 0)
    assert table["ml.m5.large"] == M5_LARGE
    assert DEFAULT_INSTANCE_TYPES["ml.g4dn.xlarge"].gpus == 1  # the default is untouched
    assert load_instance_types(None) == DEFAULT_INSTANCE_TYPES
