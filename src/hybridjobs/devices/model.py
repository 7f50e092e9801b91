"""A device of the catalog: what GetDevice and SearchDevices show, and which engine runs
its tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DeviceType(StrEnum):
    QPU = "QPU"
    SIMULATOR = "SIMULATOR"


class DeviceStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    RETIRED = "RETIRED"
    PAUSED = "PAUSED"


@dataclass(frozen=True)
class Device:
    """One catalog entry.

    ``capabilities`` is the ``deviceCapabilities`` document (it validates against the
    SDK's schema named in its ``braketSchemaHeader``); ``engine`` names the engine that runs
    its tasks (``braket_sv``, ``braket_dm``, ``braket_tn``, ``emulator``, ``braket_ahs``).
    """

    arn: str
    name: str
    provider: str
    device_type: DeviceType
    status: DeviceStatus
    capabilities: dict[str, Any]
    engine: str
    source: str = "built-in"
    capabilities_json: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.capabilities_json:
            object.__setattr__(self, "capabilities_json", json.dumps(self.capabilities))

    @property
    def qubit_count(self) -> int | None:
        """The largest number of qubits a task may use (``None`` for analog devices)."""
        paradigm = self.capabilities.get("paradigm") or {}
        count = paradigm.get("qubitCount")
        return int(count) if count is not None else None

    @property
    def shots_range(self) -> tuple[int, int]:
        """Smallest and largest ``shots`` the device accepts."""
        low, high = (self.capabilities.get("service") or {}).get("shotsRange", [0, 100000])
        return int(low), int(high)

    @property
    def action_types(self) -> frozenset[str]:
        """Action type names the device accepts (``braket.ir.openqasm.program``, ...)."""
        return frozenset((self.capabilities.get("action") or {}).keys())
