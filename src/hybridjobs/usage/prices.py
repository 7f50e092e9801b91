"""The price table: what an instance-minute, a simulator-minute, a QPU task and a QPU shot
cost, in USD.

The shipped default (:data:`DEFAULT_PRICES`) mirrors the *structure* of AWS's public
Amazon Braket price list: per-minute prices for the managed simulators (billed per
millisecond with a 3-second minimum per task) and for hybrid-job instances, and a per-task
plus per-shot price for each QPU. Its figures are a reference, not a quote
(:data:`PROVENANCE` says which were checked against AWS's public pricing page, and when):
an operator sets their own with a JSON file (``HYBRIDJOBS_PRICES_FILE``, see
``docs/accounting.md``) whose entries replace or extend the default's.

Costs are :class:`~decimal.Decimal` (exact, as the SDK's Tracker computes them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SNAPSHOT_DATE = "2026-12-02"
"""When the default QPU figures were last checked against AWS's public Braket pricing
page (the simulator and instance figures were not: see :data:`PROVENANCE`)."""
PROVENANCE = (
    "QPU prices (per task $0.30; per shot IonQ Forte $0.08, IonQ Aria $0.03, IQM Garnet "
    "$0.00145, QuEra Aquila $0.01, Rigetti Ankaa $0.0009) match aws.amazon.com/braket/pricing "
    "as checked on 2026-12-02; the simulator (SV1/DM1 $0.075, TN1 $0.275 a minute) and "
    "hybrid-job instance prices are unverified estimates of AWS's"
)
"""What of the default table was checked against AWS's public prices, and what was not."""

MIN_SIMULATOR_MS = 3000
"""A simulator task is billed at least this long (AWS's rule, and the SDK Tracker's)."""

COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class QpuPrice:
    """A QPU's price: per task and per shot."""

    per_task: Decimal
    per_shot: Decimal


@dataclass(frozen=True)
class PriceTable:
    """Prices by instance type (per minute), simulator device ARN (per minute) and QPU
    device ARN (per task and shot). An instance type not in the table costs
    ``per_vcpu_minute`` times its vCPUs."""

    instances: dict[str, Decimal] = field(default_factory=dict)
    simulators: dict[str, Decimal] = field(default_factory=dict)
    qpus: dict[str, QpuPrice] = field(default_factory=dict)
    per_vcpu_minute: Decimal = Decimal("0")
    source: str = "default"
    snapshot_date: str = SNAPSHOT_DATE
    note: str = ""
    """Where the figures come from (the default's :data:`PROVENANCE`)."""

    def instance_minute(self, instance_type: str, vcpus: float | None = None) -> Decimal:
        """The per-minute price of one instance of ``instance_type``."""
        price = self.instances.get(instance_type)
        if price is not None:
            return price
        return self.per_vcpu_minute * Decimal(str(vcpus or 0))

    def job_cost(self, instance_type: str, duration_ms: int, vcpus: float | None = None) -> Decimal:
        """The cost of ``duration_ms`` instance-milliseconds (a job's billableDuration,
        which already counts every instance) of ``instance_type``."""
        return self.instance_minute(instance_type, vcpus) * Decimal(duration_ms) / Decimal(60_000)

    def task_cost(self, device_arn: str, status: str, shots: int, duration_ms: int) -> Decimal:
        """What a finished task costs: a QPU task that COMPLETED its per-task price plus
        its shots; a simulator task the minutes it ran (at least 3 s); else nothing."""
        qpu = self.qpus.get(device_arn)
        if qpu is not None:
            if status != COMPLETED:
                return Decimal(0)
            return qpu.per_task + qpu.per_shot * shots
        minute = self.simulators.get(device_arn)
        if minute is None or duration_ms <= 0:
            return Decimal(0)
        return minute * Decimal(max(duration_ms, MIN_SIMULATOR_MS)) / Decimal(60_000)

    def task_estimate(self, device_arn: str, shots: int) -> Decimal:
        """The most a QPU task of ``shots`` shots can cost (0 on simulators): what a
        spending limit holds back for it while it is queued."""
        qpu = self.qpus.get(device_arn)
        return Decimal(0) if qpu is None else qpu.per_task + qpu.per_shot * shots


def _per_hour(hourly: str) -> Decimal:
    return Decimal(hourly) / Decimal(60)


_SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
_DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
_TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"

DEFAULT_PRICES = PriceTable(
    # Hybrid-job instances, AWS's hourly prices (us-east-1) as per-minute prices.
    instances={
        "ml.m5.large": _per_hour("0.115"),
        "ml.m5.xlarge": _per_hour("0.23"),
        "ml.m5.2xlarge": _per_hour("0.461"),
        "ml.m5.4xlarge": _per_hour("0.922"),
        "ml.m5.12xlarge": _per_hour("2.765"),
        "ml.m5.24xlarge": _per_hour("5.53"),
        "ml.c5.xlarge": _per_hour("0.204"),
        "ml.c5.2xlarge": _per_hour("0.408"),
        "ml.c5.4xlarge": _per_hour("0.816"),
        "ml.c5.9xlarge": _per_hour("1.836"),
        "ml.c5.18xlarge": _per_hour("3.672"),
        "ml.p3.2xlarge": _per_hour("3.825"),
        "ml.p3.8xlarge": _per_hour("14.688"),
        "ml.p3.16xlarge": _per_hour("28.152"),
        "ml.g4dn.xlarge": _per_hour("0.736"),
        "ml.g4dn.2xlarge": _per_hour("0.94"),
    },
    simulators={_SV1: Decimal("0.075"), _DM1: Decimal("0.075"), _TN1: Decimal("0.275")},
    qpus={
        "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1": QpuPrice(
            Decimal("0.30"), Decimal("0.08")
        ),
        "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1": QpuPrice(
            Decimal("0.30"), Decimal("0.03")
        ),
        "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet": QpuPrice(
            Decimal("0.30"), Decimal("0.00145")
        ),
        "arn:aws:braket:us-east-1::device/qpu/quera/Aquila": QpuPrice(
            Decimal("0.30"), Decimal("0.01")
        ),
        "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3": QpuPrice(
            Decimal("0.30"), Decimal("0.0009")
        ),
    },
    # Other instance types: ml.m5's price per vCPU ($0.115 an hour for 2 vCPUs).
    per_vcpu_minute=_per_hour("0.0575"),
    note=PROVENANCE,
)


class PriceFileError(Exception):
    """The operator's price file cannot be used; the message names the file and entry."""


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PriceFileError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise PriceFileError(f"{where}: {value!r} is not a price (a number >= 0)")
    return number


def load_prices(path: Path | None) -> PriceTable:
    """The default table, with the entries of the JSON file at ``path`` replacing or
    extending it::

        {"snapshot_date": "2026-01-01",
         "instances": {"ml.m5.large": 0.002},          # USD per instance-minute
         "per_vcpu_minute": 0.001,
         "simulators": {"<device ARN>": 0.075},         # USD per minute
         "qpus": {"<device ARN>": {"per_task": 0.3, "per_shot": 0.01}}}
    """
    if path is None:
        return DEFAULT_PRICES
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PriceFileError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        raise PriceFileError(f"{path}: not a JSON object")
    instances = dict(DEFAULT_PRICES.instances)
    simulators = dict(DEFAULT_PRICES.simulators)
    qpus = dict(DEFAULT_PRICES.qpus)
    for name, value in dict(document.get("instances") or {}).items():
        instances[name] = _decimal(value, f"{path}: instances.{name}")
    for arn, value in dict(document.get("simulators") or {}).items():
        simulators[arn] = _decimal(value, f"{path}: simulators.{arn}")
    for arn, value in dict(document.get("qpus") or {}).items():
        if not isinstance(value, dict):
            raise PriceFileError(f"{path}: qpus.{arn}: not an object with per_task, per_shot")
        qpus[arn] = QpuPrice(
            _decimal(value.get("per_task", 0), f"{path}: qpus.{arn}.per_task"),
            _decimal(value.get("per_shot", 0), f"{path}: qpus.{arn}.per_shot"),
        )
    per_vcpu = document.get("per_vcpu_minute")
    return PriceTable(
        instances=instances,
        simulators=simulators,
        qpus=qpus,
        per_vcpu_minute=DEFAULT_PRICES.per_vcpu_minute
        if per_vcpu is None
        else _decimal(per_vcpu, f"{path}: per_vcpu_minute"),
        source=str(path),
        snapshot_date=str(document.get("snapshot_date") or SNAPSHOT_DATE),
        note=str(document.get("note") or f"{path}, over the default table ({PROVENANCE})"),
    )
