"""The instance-type table: vCPUs, memory and GPUs of every ``InstanceType`` (spec §6.1).

Local instances are processes, so these figures are what admission control charges
against the service's capacity, not what a process is limited to. Operators may override
or extend the table with a JSON file ``{type: {"vcpus": n, "memory_gib": m, "gpus": g}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InstanceResources:
    """What one instance of a type needs."""

    vcpus: float
    memory_gib: float
    gpus: int = 0


def _family(
    prefix: str, sizes: list[str], vcpus: list[float], memory: list[float], gpus: list[int]
) -> dict[str, InstanceResources]:
    return {
        f"{prefix}.{size}": InstanceResources(v, m, g)
        for size, v, m, g in zip(sizes, vcpus, memory, gpus, strict=True)
    }


DEFAULT_INSTANCE_TYPES: dict[str, InstanceResources] = {
    **_family("ml.t3", ["large", "xlarge", "2xlarge"], [2, 4, 8], [8, 16, 32], [0, 0, 0]),
    **_family(
        "ml.m4",
        ["xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"],
        [4, 8, 16, 40, 64],
        [16, 32, 64, 160, 256],
        [0] * 5,
    ),
    **_family(
        "ml.m5",
        ["large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"],
        [2, 4, 8, 16, 48, 96],
        [8, 16, 32, 64, 192, 384],
        [0] * 6,
    ),
    **_family(
        "ml.c4",
        ["xlarge", "2xlarge", "4xlarge", "8xlarge"],
        [4, 8, 16, 36],
        [7.5, 15, 30, 60],
        [0] * 4,
    ),
    **_family(
        "ml.c5",
        ["xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"],
        [4, 8, 16, 36, 72],
        [8, 16, 32, 72, 144],
        [0] * 5,
    ),
    **_family(
        "ml.c5n",
        ["xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"],
        [4, 8, 16, 36, 72],
        [10.5, 21, 42, 96, 192],
        [0] * 5,
    ),
    "ml.p4d.24xlarge": InstanceResources(96, 1152, 8),
    **_family(
        "ml.g4dn",
        ["xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "12xlarge"],
        [4, 8, 16, 32, 64, 48],
        [16, 32, 64, 128, 256, 192],
        [1, 1, 1, 1, 1, 4],
    ),
    # Not in the Braket model's enum today; accepted as an extra (wire/botomodel.py).
    **_family(
        "ml.g5",
        ["xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "12xlarge", "24xlarge", "48xlarge"],
        [4, 8, 16, 32, 64, 48, 96, 192],
        [16, 32, 64, 128, 256, 192, 384, 768],
        [1, 1, 1, 1, 1, 4, 4, 8],
    ),
    **_family(
        "ml.g6",
        ["xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "12xlarge", "24xlarge", "48xlarge"],
        [4, 8, 16, 32, 64, 48, 96, 192],
        [16, 32, 64, 128, 256, 192, 384, 768],
        [1, 1, 1, 1, 1, 4, 4, 8],
    ),
    **_family(
        "ml.g6e",
        ["xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "12xlarge", "24xlarge", "48xlarge"],
        [4, 8, 16, 32, 64, 48, 96, 192],
        [32, 64, 128, 256, 512, 384, 768, 1536],
        [1, 1, 1, 1, 1, 4, 4, 8],
    ),
    **_family("ml.p2", ["xlarge", "8xlarge", "16xlarge"], [4, 32, 64], [61, 488, 732], [1, 8, 16]),
    **_family("ml.p3", ["2xlarge", "8xlarge", "16xlarge"], [8, 32, 64], [61, 244, 488], [1, 4, 8]),
    "ml.p3dn.24xlarge": InstanceResources(96, 768, 8),
}


def load_instance_types(override_file: Path | None) -> dict[str, InstanceResources]:
    """The default table, updated with the entries of ``override_file`` when given."""
    table = dict(DEFAULT_INSTANCE_TYPES)
    if override_file is not None:
        entries = json.loads(Path(override_file).read_text())
        for name, spec in entries.items():
            table[name] = InstanceResources(
                vcpus=float(spec["vcpus"]),
                memory_gib=float(spec["memory_gib"]),
                gpus=int(spec.get("gpus", 0)),
            )
    return table
