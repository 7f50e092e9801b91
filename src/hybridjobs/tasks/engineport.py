"""The tasks domain's engine port: what every simulation engine is given and gives back.

The domain owns this contract; the engines in ``hybridjobs.engines`` implement it (they
import this module, never the other way round: design.md §4.3). An engine runs one
quantum task's action (OpenQASM 3, JAQCD, a program set or an AHS
program) for one device and returns the result document the SDK reads from
``<outputS3Directory>/results.json``. Engines run in task worker processes; requests and
results are plain, picklable data. ``validate`` runs in the API process before a task is
stored and must be cheap (caches are per process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class TaskValidationError(Exception):
    """The task can never run on this device; ``str(error)`` names the field and why
    (it becomes the message of a ValidationException, e.g. ``"action: gate 'cphaseshift01'
    is not supported by SV1; supported: h, x, ..."``)."""


class TaskFailed(Exception):
    """The task ran and failed; ``str(error)`` is the task's ``failureReason``: what went
    wrong in the task's own terms (never a server path or a Python traceback)."""


@dataclass(frozen=True)
class EngineRequest:
    """One task, as a worker needs it.

    ``action`` and ``device_parameters`` are the JSON strings of CreateQuantumTask as sent;
    ``device_capabilities`` is the device's ``deviceCapabilities`` JSON (emulators build
    their noise model and native gate set from it).
    """

    task_arn: str
    device_arn: str
    engine: str
    action: str
    shots: int
    device_parameters: str | None = None
    device_capabilities: str = "{}"


@dataclass(frozen=True)
class EngineResult:
    """The outcome of one task: the results document and what GetQuantumTask reports."""

    results_json: str
    num_successful_shots: int | None = None
    action_metadata: dict[str, Any] = field(default_factory=dict)
    simulated_seconds: float = 0.0


class Engine(Protocol):
    """One way of running tasks (default simulator, fast state vector, emulator, AHS)."""

    def validate(self, request: EngineRequest) -> None:
        """Raise TaskValidationError when the task can never run; else return quickly."""
        ...

    def run(self, request: EngineRequest) -> EngineResult:
        """Run the task; raise TaskFailed with a reason a person can act on."""
        ...
