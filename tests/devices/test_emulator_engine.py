"""Emulated QPUs: the SDK's LocalEmulator checks and noises programs in native gates."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from braket.circuits import Circuit, observables
from braket.circuits.serialization import (
    IRType,
    OpenQASMSerializationProperties,
    QubitReferenceType,
)
from braket.ir.jaqcd import Program as JaqcdProgram
from braket.ir.jaqcd import Rx
from braket.ir.openqasm import Program
from braket.schema_common import BraketSchemaBase
from braket.task_result import GateModelTaskResult
from braket.tasks import GateModelQuantumTaskResult

from hybridjobs.devices.make_catalog import BUILT_IN_DIR
from hybridjobs.engines.base import EngineRequest, TaskValidationError
from hybridjobs.engines.emulator import EmulatorEngine

TASK = "arn:aws:braket:us-west-2:123456789012:quantum-task/6a1c6b8e-61d7-4cd5-9f9b-1f4c0f1d2e3a"
HALF_PI = math.pi / 2


def _device(file_name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((BUILT_IN_DIR / file_name).read_text())
    return document


def _request(
    file_name: str, circuit: Circuit | str, shots: int = 1000, **kwargs: Any
) -> EngineRequest:
    """A task as the SDK sends it: verbatim circuits use physical qubits ($k)."""
    device = _device(file_name)
    if isinstance(circuit, Circuit):
        physical = OpenQASMSerializationProperties(qubit_reference_type=QubitReferenceType.PHYSICAL)
        action = circuit.to_ir(IRType.OPENQASM, serialization_properties=physical).json()
    else:
        action = circuit
    return EngineRequest(
        task_arn=TASK,
        device_arn=device["deviceArn"],
        engine="emulator",
        action=action,
        shots=shots,
        device_capabilities=device["deviceCapabilities"],
        **kwargs,
    )


def _bell(a: int, b: int) -> Circuit:
    """A Bell state in IQM's native gates: H = PRX(pi/2, -pi/2) up to phase, CNOT = H CZ H."""
    return (
        Circuit()
        .prx(a, HALF_PI, -HALF_PI)
        .prx(b, HALF_PI, -HALF_PI)
        .cz(a, b)
        .prx(b, HALF_PI, HALF_PI)
    )


def _sdk_result(results_json: str) -> GateModelQuantumTaskResult:
    """What ``AwsQuantumTask.result()`` makes of the results document."""
    parsed = BraketSchemaBase.parse_raw_schema(results_json)
    assert isinstance(parsed, GateModelTaskResult)
    return GateModelQuantumTaskResult.from_object(parsed)


def test_a_native_bell_circuit_runs_with_the_device_noise() -> None:
    engine = EmulatorEngine(max_task_memory_bytes=2**30)
    request = _request("iqm-garnet.json", Circuit().add_verbatim_box(_bell(1, 2)))
    engine.validate(request)
    outcome = engine.run(request)

    result = _sdk_result(outcome.results_json)
    counts = result.measurement_counts
    assert sum(counts.values()) == 1000
    assert outcome.num_successful_shots == 1000
    assert counts["00"] + counts["11"] > 850
    assert counts["01"] + counts["10"] > 0  # readout and gate errors
    assert result.measured_qubits == [1, 2]
    metadata = result.task_metadata
    assert (metadata.id, metadata.deviceId, metadata.shots) == (TASK, request.device_arn, 1000)
    assert isinstance(result.additional_metadata.action, Program)
    assert result.additional_metadata.action.source == json.loads(request.action)["source"]


def test_a_circuit_without_verbatim_box_runs_when_already_native() -> None:
    engine = EmulatorEngine()
    request = _request("iqm-garnet.json", _bell(4, 9), shots=200)
    engine.validate(request)
    result = _sdk_result(engine.run(request).results_json)
    assert sum(result.measurement_counts.values()) == 200
    assert result.measured_qubits == [4, 9]


def test_result_types_keep_the_device_qubit_labels() -> None:
    circuit = Circuit().add_verbatim_box(_bell(1, 2)).expectation(observables.Z(20))
    request = _request("iqm-garnet.json", circuit, shots=500)
    result = _sdk_result(EmulatorEngine().run(request).results_json)
    assert result.measured_qubits == [1, 2, 20]
    value = result.get_value_by_result_type(circuit.result_types[0])
    assert 0.8 < value < 1.0  # qubit 20 stays |0>, up to readout errors


def test_a_non_native_gate_is_refused_clearly() -> None:
    request = _request("iqm-garnet.json", Circuit().h(1).cnot(1, 2))
    with pytest.raises(TaskValidationError) as caught:
        EmulatorEngine().validate(request)
    message = str(caught.value)
    assert message.startswith("action: gate 'h' is not a native gate of Garnet (native: cz, prx)")
    assert "compile" in message


@pytest.mark.parametrize(
    ("circuit", "shots", "message"),
    [
        (Circuit().prx(1, 1, 0).cz(1, 3), 100, "qubits 1 and 3, which are not connected on Garnet"),
        (Circuit().prx(0, 1, 0), 100, "qubit 0 does not exist on Garnet (its qubits are 1-20)"),
        (_bell(1, 2).depolarizing(1, 0.1), 100, "noise instruction 'Depolarizing'"),
        (_bell(1, 2), 0, "shots: Garnet runs 1 to 20000 shots per task, not 0"),
        (_bell(1, 2), 20001, "shots: Garnet runs 1 to 20000 shots per task, not 20001"),
    ],
)
def test_programs_the_device_cannot_run_are_refused(
    circuit: Circuit, shots: int, message: str
) -> None:
    with pytest.raises(TaskValidationError, match=re.escape(message)):
        EmulatorEngine().validate(_request("iqm-garnet.json", circuit, shots=shots))


def test_reversed_couplers_are_accepted_for_symmetric_gates() -> None:
    circuit = Circuit().add_verbatim_box(Circuit().prx(2, HALF_PI, 0).cz(2, 1))
    EmulatorEngine().validate(_request("iqm-garnet.json", circuit))


def test_other_action_types_and_includes_are_refused() -> None:
    jaqcd = JaqcdProgram(instructions=[Rx(target=1, angle=0.5)]).json()
    with pytest.raises(TaskValidationError, match=r"braket.ir.jaqcd.program is not supported"):
        EmulatorEngine().validate(_request("iqm-garnet.json", jaqcd))
    source = 'OPENQASM 3.0;\ninclude "/etc/hostname";\nprx(0.5, 0) $1;\n'
    with pytest.raises(TaskValidationError, match="include '/etc/hostname' is not supported"):
        EmulatorEngine().validate(_request("iqm-garnet.json", Program(source=source).json()))


def test_the_memory_budget_limits_the_qubits() -> None:
    circuit = Circuit().add_verbatim_box(_bell(1, 2).prx(4, 1, 0))
    with pytest.raises(TaskValidationError, match="can hold at most 2 qubits per task"):
        EmulatorEngine(max_task_memory_bytes=4**2 * 16).validate(
            _request("iqm-garnet.json", circuit)
        )


def test_ionq_and_rigetti_native_circuits_run() -> None:
    engine = EmulatorEngine()
    forte = Circuit().add_verbatim_box(Circuit().gpi2(0, 0).gpi2(35, 0).zz(0, 35, HALF_PI))
    result = _sdk_result(engine.run(_request("ionq-forte-1.json", forte, shots=100)).results_json)
    assert result.measured_qubits == [0, 35]
    assert sum(result.measurement_counts.values()) == 100
    with pytest.raises(TaskValidationError, match="gate 'ms' is not a native gate of Forte-1"):
        engine.validate(_request("ionq-forte-1.json", Circuit().ms(0, 1, 0, 0)))

    ankaa = Circuit().add_verbatim_box(Circuit().rx(0, math.pi).iswap(0, 1).rz(12, 1).iswap(0, 12))
    result = _sdk_result(
        engine.run(_request("rigetti-ankaa-3.json", ankaa, shots=100)).results_json
    )
    assert result.measured_qubits == [0, 1, 12]
    with pytest.raises(TaskValidationError, match="qubit 26 does not exist on Ankaa-3"):
        engine.validate(_request("rigetti-ankaa-3.json", Circuit().rx(26, math.pi)))
