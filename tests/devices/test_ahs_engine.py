"""AHS tasks on the emulated QuEra Aquila, run by the default simulator's Rydberg simulator."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from braket.ahs import AnalogHamiltonianSimulation, AtomArrangement, DrivingField
from braket.circuits import Circuit
from braket.circuits.serialization import IRType
from braket.schema_common import BraketSchemaBase
from braket.task_result import AnalogHamiltonianSimulationTaskResult
from braket.tasks import AnalogHamiltonianSimulationQuantumTaskResult
from braket.timings.time_series import TimeSeries

from hybridjobs.devices.make_catalog import BUILT_IN_DIR
from hybridjobs.engines.ahs import AhsEngine, max_atoms
from hybridjobs.engines.base import EngineRequest, TaskValidationError

TASK = "arn:aws:braket:us-west-2:123456789012:quantum-task/0b6f3f2e-2f7e-4a43-8d5e-6f1f0c7e9a11"
AQUILA = json.loads((BUILT_IN_DIR / "quera-aquila.json").read_text())


def _rabi(
    spacing: float = 10e-6, rabi: float = 1.5e7, duration: float = 1e-6, atoms: int = 2
) -> str:
    """``atoms`` atoms in a row, driven on resonance with a trapezoidal Rabi pulse."""
    register = AtomArrangement()
    for i in range(atoms):
        register.add((i * spacing, 0.0))
    ramp = 1e-7
    amplitude = TimeSeries().put(0, 0).put(ramp, rabi).put(duration - ramp, rabi).put(duration, 0)
    flat = TimeSeries().put(0, 0).put(duration, 0)
    field = DrivingField(amplitude=amplitude, detuning=flat, phase=flat)
    program = AnalogHamiltonianSimulation(register=register, hamiltonian=field)
    return str(program.to_ir().json())


def _request(action: str, shots: int = 100) -> EngineRequest:
    return EngineRequest(
        task_arn=TASK,
        device_arn=AQUILA["deviceArn"],
        engine="braket_ahs",
        action=action,
        shots=shots,
        device_capabilities=AQUILA["deviceCapabilities"],
    )


def test_a_two_atom_rabi_program_runs_and_parses_with_the_sdk() -> None:
    engine = AhsEngine(max_task_memory_bytes=2**30)
    request = _request(_rabi())
    engine.validate(request)
    outcome = engine.run(request)
    parsed = BraketSchemaBase.parse_raw_schema(outcome.results_json)
    assert isinstance(parsed, AnalogHamiltonianSimulationTaskResult)
    result = AnalogHamiltonianSimulationQuantumTaskResult.from_object(parsed)
    assert len(result.measurements) == 100
    counts: dict[str, Any] = result.get_counts()
    assert sum(counts.values()) == 100
    assert set(counts) <= {"gg", "gr", "rg", "rr"}
    metadata = result.task_metadata
    assert (metadata.id, metadata.deviceId, metadata.shots) == (TASK, request.device_arn, 100)
    assert result.additional_metadata.queraMetadata.numSuccessfulShots == 100
    assert outcome.num_successful_shots == 100


@pytest.mark.parametrize(
    ("action", "shots", "message"),
    [
        (_rabi(spacing=2e-6), 100, "sites 0 and 1 are 2e-06 m apart; Aquila needs at least"),
        (_rabi(rabi=3e7), 100, "driving field amplitude value 30000000.0 is outside Aquila's"),
        (_rabi(duration=5e-6), 100, "Aquila runs programs of at most"),
        (_rabi(spacing=1.0), 100, "field of view"),
        (_rabi(), 0, "shots: Aquila runs 1 to 1000 shots per task, not 0"),
    ],
)
def test_programs_outside_the_device_limits_are_refused(
    action: str, shots: int, message: str
) -> None:
    with pytest.raises(TaskValidationError, match=re.escape(message)):
        AhsEngine().validate(_request(action, shots))


def test_the_memory_budget_limits_the_atoms() -> None:
    limit = max_atoms(2**30)
    assert 10 <= limit < 20
    with pytest.raises(TaskValidationError, match=f"simulates at most {limit} atoms"):
        AhsEngine(max_task_memory_bytes=2**30).validate(_request(_rabi(atoms=limit + 1)))


def test_gate_programs_are_refused() -> None:
    action = Circuit().h(0).to_ir(IRType.OPENQASM).json()
    with pytest.raises(
        TaskValidationError, match=re.escape("braket.ir.openqasm.program is not supported")
    ):
        AhsEngine().validate(_request(action))
