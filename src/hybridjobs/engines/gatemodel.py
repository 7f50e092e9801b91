"""The gate-model engines: ``braket_sv`` (SV1), ``braket_dm`` (DM1) and ``braket_tn`` (TN1).

All three run the Amazon Braket default simulator's code paths (``run_openqasm``,
``run_jaqcd``, ``run_program_set``), so results are the default simulator's:

* ``braket_sv``: compiled plans for variational programs, lightning evolution for large
  circuits, otherwise the default simulator reading cached syntax trees;
* ``braket_dm``: the density-matrix simulator with cached trees and compiled plans (noise
  pragmas included);
* ``braket_tn``: TN1 has no tensor-network contraction here; it runs on the ``braket_sv``
  path, and its catalog entry carries the state-vector qubit limit.

This module imports no simulator code until a task is validated or run.
"""

from __future__ import annotations

import json
import time
import warnings
from enum import Enum
from typing import Any

from hybridjobs.engines.base import EngineRequest, EngineResult, TaskFailed
from hybridjobs.engines.validation import JAQCD, OPENQASM, Action, validate_request


class GateModelEngine:
    """Validates and runs gate-model tasks on one of the default simulators.

    ``density_matrix`` selects the density-matrix simulator. ``lightning_min_qubits``
    (state vector only; ``None``: 14; 0: never) is where lightning takes over evolution; ``compiled``
    enables compiled plans. The simulator is created on first use and reused.
    """

    def __init__(
        self,
        *,
        density_matrix: bool = False,
        lightning_min_qubits: int | None = None,
        compiled: bool = True,
    ) -> None:
        self.density_matrix = density_matrix
        self.lightning_min_qubits = lightning_min_qubits
        self.compiled = compiled
        self._simulator: Any = None

    def validate(self, request: EngineRequest) -> None:
        """Raise TaskValidationError naming the first problem (see ``validation``)."""
        validate_request(request, keep_trees=False)

    def run(self, request: EngineRequest) -> EngineResult:
        """Run the task; TaskFailed carries the simulator's complaint in the task's terms."""
        action = validate_request(request, keep_trees=True)
        simulator = self.simulator()
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # JAQCD deprecation, noise-free DM advice
                result = _execute(simulator, action, request.shots)
        except Exception as error:
            raise TaskFailed(describe_failure(error)) from None
        elapsed = time.perf_counter() - started
        _compute_sampled_result_types(result)
        document = _jsonable(result.dict(exclude_none=True))
        metadata = document["taskMetadata"]
        metadata["id"] = request.task_arn
        metadata["deviceId"] = request.device_arn
        _add_simulator_metadata(document, elapsed)
        programs, executables = _counts(action)
        return EngineResult(
            results_json=json.dumps(document, separators=(",", ":")),
            num_successful_shots=request.shots,
            action_metadata={
                "actionType": action.kind,
                "programCount": programs,
                "executableCount": executables,
            },
            simulated_seconds=elapsed,
        )

    def simulator(self) -> Any:
        """This engine's simulator (created on first use)."""
        if self._simulator is None:
            from hybridjobs.engines.simulators import (
                FastDensityMatrixSimulator,
                FastStateVectorSimulator,
            )

            self._simulator = (
                FastDensityMatrixSimulator(compiled=self.compiled)
                if self.density_matrix
                else FastStateVectorSimulator(
                    lightning_min_qubits=self.lightning_min_qubits, compiled=self.compiled
                )
            )
        return self._simulator


class StateVectorEngine(GateModelEngine):
    """``braket_sv``: SV1."""

    def __init__(self, *, lightning_min_qubits: int | None = None, compiled: bool = True):
        super().__init__(lightning_min_qubits=lightning_min_qubits, compiled=compiled)


class DensityMatrixEngine(GateModelEngine):
    """``braket_dm``: DM1."""

    def __init__(self, *, compiled: bool = True) -> None:
        super().__init__(density_matrix=True, compiled=compiled)


class TensorNetworkEngine(StateVectorEngine):
    """``braket_tn``: TN1, run on the state-vector path (see the module docstring)."""


SIMULATOR_METADATA_HEADER = {"name": "braket.task_result.simulator_metadata", "version": "1"}


def _add_simulator_metadata(document: dict[str, Any], elapsed_seconds: float) -> None:
    """Record the measured simulation time as AWS's managed simulators do:
    ``additionalMetadata.simulatorMetadata.executionDuration`` in whole milliseconds
    (what the SDK's Tracker bills a simulator task by, at least 3 s). Documents without
    ``additionalMetadata`` (program sets) are left as they are."""
    additional = document.get("additionalMetadata")
    if not isinstance(additional, dict):
        return
    additional["simulatorMetadata"] = {
        "braketSchemaHeader": dict(SIMULATOR_METADATA_HEADER),
        "executionDuration": max(1, round(elapsed_seconds * 1000)),
    }


def _execute(simulator: Any, action: Action, shots: int) -> Any:
    if action.kind == OPENQASM:
        return simulator.run_openqasm(action.model, shots=shots)
    if action.kind == JAQCD:
        return simulator.run_jaqcd(action.model, shots=shots)
    return simulator.run_program_set(action.model, shots=shots)


def _compute_sampled_result_types(result: Any) -> None:
    """With shots > 0 the default simulator returns the requested result types unevaluated;
    the results document carries their values, computed from the measurements as the SDK
    computes them (the schema only admits evaluated result types)."""
    from braket.task_result import ResultTypeValue

    requested = getattr(result, "resultTypes", None)
    if not requested or isinstance(requested[0], ResultTypeValue) or not result.measurements:
        return
    import numpy as np
    from braket.tasks.gate_model_quantum_task_result import GateModelQuantumTaskResult

    measurements = np.asarray(result.measurements).astype(int)
    result.resultTypes = GateModelQuantumTaskResult._calculate_result_types(
        json.dumps({"results": [rt.dict() for rt in requested]}),
        measurements,
        result.measuredQubits,
    )


def _counts(action: Action) -> tuple[int, int]:
    if action.kind in (OPENQASM, JAQCD):
        return 1, 1
    return len(action.model.programs), int(action.model.num_executables)


_PLAIN_FAILURES = (ValueError, TypeError, NameError, IndexError, NotImplementedError, RuntimeError)


def describe_failure(error: Exception) -> str:
    """A failure reason for ``error`` raised while simulating: its message, in the task's
    terms (syntax errors, qubits, inputs, memory), never a traceback."""
    from hybridjobs.engines.programs import ProgramSyntaxError
    from hybridjobs.engines.simulators import SimulationTooLarge

    if isinstance(error, ProgramSyntaxError):
        return f"The OpenQASM program does not parse: {error}"
    if isinstance(error, SimulationTooLarge):
        return f"The simulation does not fit in memory: {error}"
    if isinstance(error, MemoryError):
        return "The simulation ran out of memory; use fewer qubits."
    if isinstance(error, KeyError):  # the interpreter's tables: "Undefined key: theta"
        key = str(error.args[0]) if error.args else ""
        return key if " " in key else f"The program refers to an unknown name {key!r}"
    message = str(error) or type(error).__name__
    if isinstance(error, _PLAIN_FAILURES):
        return message
    return f"{type(error).__name__}: {message}"


def _jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars, complex numbers ([re, im]) and enums made
    plain JSON, as the Braket service writes results (measurement bits become ints)."""
    import numpy as np

    if isinstance(value, dict):
        if "measurements" in value:  # bits as ints; no empty list (the schema forbids it)
            bits = value["measurements"]
            value = dict(value)
            if len(bits):
                value["measurements"] = np.asarray(bits).astype(int)
            else:
                del value["measurements"]
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            return np.stack([value.real, value.imag], axis=-1).tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "dict") and callable(value.dict):  # a pydantic model left unconverted
        return _jsonable(value.dict(exclude_none=True))
    return value
