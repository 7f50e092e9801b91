"""The braket_sv / braket_dm / braket_tn engines end to end: results documents the SDK reads,
equal to the default simulator's, metadata, program sets, JAQCD and failures."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from braket.default_simulator import StateVectorSimulator
from braket.ir.jaqcd import Program as JaqcdProgram
from braket.schema_common import BraketSchemaBase
from braket.task_result import GateModelTaskResult, ProgramSetTaskResult
from braket.tasks import GateModelQuantumTaskResult

from engines.gate_corpus import (
    BELL,
    DM1_ARN,
    NOISY,
    SAMPLED,
    SV1_ARN,
    SV_CASES,
    TN1_ARN,
    VARIATIONAL,
    Case,
    assert_counts_plausible,
    assert_results_match,
    assert_values_close,
    capabilities,
    reference,
)
from hybridjobs.engines import engine_for, run_request
from hybridjobs.engines.base import EngineRequest, TaskFailed, TaskValidationError
from hybridjobs.engines.gatemodel import (
    DensityMatrixEngine,
    StateVectorEngine,
    TensorNetworkEngine,
)

SV_CAPS = capabilities("braket_sv", 10)
DM_CAPS = capabilities("braket_dm", 6)
TASK = "arn:aws:braket:us-west-2:000000000000:quantum-task/abc"
ENGINES = {SV1_ARN: "braket_sv", DM1_ARN: "braket_dm", TN1_ARN: "braket_tn"}


def task(action: str, shots: int, arn: str = SV1_ARN, caps: str = SV_CAPS) -> EngineRequest:
    return EngineRequest(
        task_arn=TASK,
        device_arn=arn,
        engine=ENGINES[arn],
        action=action,
        shots=shots,
        device_capabilities=caps,
    )


def program(source: str, inputs: dict[str, Any] | None = None) -> str:
    header = {"name": "braket.ir.openqasm.program", "version": "1"}
    return json.dumps({"braketSchemaHeader": header, "source": source, "inputs": inputs})


def gate_model_result(results_json: str) -> GateModelTaskResult:
    parsed = BraketSchemaBase.parse_raw_schema(results_json)
    assert isinstance(parsed, GateModelTaskResult)
    return parsed


def test_the_registry_creates_each_engine_once() -> None:
    assert isinstance(engine_for("braket_sv"), StateVectorEngine)
    assert isinstance(engine_for("braket_dm"), DensityMatrixEngine)
    assert isinstance(engine_for("braket_tn"), TensorNetworkEngine)
    assert engine_for("braket_sv") is engine_for("braket_sv")
    with pytest.raises(ValueError, match="unknown engine 'qpu'"):
        engine_for("qpu")


@pytest.mark.parametrize("case", SV_CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("lightning", [0, 1], ids=["default", "lightning"])
def test_exact_results_match_the_default_simulator(case: Case, lightning: int) -> None:
    engine = StateVectorEngine(lightning_min_qubits=lightning)
    outcome = engine.run(task(program(case.source, case.inputs), 0))
    document = gate_model_result(outcome.results_json)
    expected = reference(case.source, case.inputs, 0, False)
    assert_results_match(document, expected, 1e-9)
    assert document.taskMetadata.id == TASK
    assert document.taskMetadata.deviceId == SV1_ARN
    assert document.taskMetadata.shots == 0
    assert outcome.num_successful_shots == 0
    assert outcome.action_metadata == {
        "actionType": "braket.ir.openqasm.program",
        "programCount": 1,
        "executableCount": 1,
    }
    sdk = GateModelQuantumTaskResult.from_string(outcome.results_json)
    assert len(sdk.values) == len(expected.resultTypes)


def test_sampled_results_carry_measurements_and_values() -> None:
    inputs = {"a": 1.3}
    outcome = run_request(task(program(SAMPLED, inputs), 2000))
    sdk = GateModelQuantumTaskResult.from_string(outcome.results_json)
    assert sdk.task_metadata.shots == 2000 and len(sdk.measurements) == 2000
    assert sdk.measured_qubits == [0, 1, 2]
    probability, zz, sample, variance = sdk.values
    assert len(probability) == 8 and len(sample) == 2000
    assert zz == pytest.approx(1.0)  # q[0] and q[2] are perfectly correlated
    assert 0 <= variance <= 1.0 + 1e-9
    rotated = SAMPLED.replace("#pragma braket result sample x(q[1])", "h q[1];").replace(
        "#pragma braket result variance x(q[1])", ""
    )
    exact = reference(rotated, inputs, 0, False).resultTypes[0].value
    outcomes = {format(i, "03b"): float(p) for i, p in enumerate(exact)}
    assert_counts_plausible(sdk.measurements, outcomes)


def test_a_variational_loop_gets_the_default_results_for_every_input() -> None:
    engine = engine_for("braket_sv")
    rng = np.random.default_rng(5)
    for _ in range(20):
        inputs = {name: float(rng.uniform(-3, 3)) for name in ("a", "b", "c")}
        outcome = engine.run(task(program(VARIATIONAL, inputs), 0))
        expected = reference(VARIATIONAL, inputs, 0, False)
        assert_results_match(gate_model_result(outcome.results_json), expected, 1e-12)


def test_density_matrix_noise_matches_the_default_simulator() -> None:
    outcome = run_request(task(program(NOISY, {"a": 0.4}), 0, DM1_ARN, DM_CAPS))
    assert_results_match(
        gate_model_result(outcome.results_json), reference(NOISY, {"a": 0.4}, 0, True), 1e-9
    )
    sampled = run_request(
        task(program(NOISY.split("#pragma braket result")[0], {"a": 0.4}), 3000, DM1_ARN, DM_CAPS)
    )
    assert len(gate_model_result(sampled.results_json).measurements) == 3000


def test_tn1_runs_on_the_state_vector_path() -> None:
    source = BELL.replace("probability", "expectation z(q[0]) @ z(q[1])")
    sdk = GateModelQuantumTaskResult.from_string(
        run_request(task(program(source), 500, TN1_ARN)).results_json
    )
    assert sdk.values[0] == pytest.approx(1.0)
    assert set(sdk.measurement_counts) <= {"00", "11"}


@pytest.mark.parametrize("lightning", [0, 1], ids=["default", "lightning"])
def test_jaqcd_programs_run(lightning: int) -> None:
    document = {
        "braketSchemaHeader": {"name": "braket.ir.jaqcd.program", "version": "1"},
        "instructions": [
            {"type": "h", "target": 0},
            {"type": "cnot", "control": 0, "target": 1},
            {"type": "rx", "target": 2, "angle": 0.4},
        ],
        "results": [
            {"type": "probability"},
            {"type": "expectation", "observable": ["z"], "targets": [2]},
        ],
    }
    outcome = StateVectorEngine(lightning_min_qubits=lightning).run(task(json.dumps(document), 0))
    expected = StateVectorSimulator().run_jaqcd(JaqcdProgram.parse_obj(document), shots=0)
    got = gate_model_result(outcome.results_json)
    for value, want in zip(got.resultTypes, expected.resultTypes, strict=True):
        assert_values_close(value.value, want.value)
    assert outcome.action_metadata["actionType"] == "braket.ir.jaqcd.program"


def test_program_sets_run_every_executable() -> None:
    parametric = "\n".join(
        (
            "OPENQASM 3.0;",
            "input float a;",
            "bit[1] b;",
            "qubit[1] q;",
            "rx(a) q[0];",
            "b[0] = measure q[0];",
        )
    )
    header = {"name": "braket.ir.openqasm.program", "version": "1"}
    action = {
        "braketSchemaHeader": {"name": "braket.ir.openqasm.program_set", "version": "1"},
        "programs": [
            {
                "braketSchemaHeader": header,
                "source": parametric,
                "inputs": {"a": [0.0, math.pi, math.pi / 2]},
            },
            {"braketSchemaHeader": header, "source": BELL},
        ],
    }
    outcome = run_request(task(json.dumps(action), 4000))
    assert outcome.action_metadata == {
        "actionType": "braket.ir.openqasm.program_set",
        "programCount": 2,
        "executableCount": 4,
    }
    parsed = BraketSchemaBase.parse_raw_schema(outcome.results_json)
    assert isinstance(parsed, ProgramSetTaskResult)
    assert parsed.taskMetadata.id == TASK and parsed.taskMetadata.deviceId == SV1_ARN
    assert parsed.taskMetadata.requestedShots == 4000
    first, second = parsed.programResults
    zero, one, half = (r.measurements for r in first.executableResults)
    assert len(zero) == 1000 and all(m == [0] for m in zero)
    assert all(m == [1] for m in one)
    assert_counts_plausible(half, {"0": 0.5, "1": 0.5})
    assert_counts_plausible(second.executableResults[0].measurements, {"00": 0.5, "11": 0.5})


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("qubit[2] q;\nh q[5];", "qubit register index `5` out of range"),
        (
            "qubit[2] q;\nbit a;\nbit b;\na = measure q[0];\nb = measure q[1];",
            "Measurement results can only be reported",
        ),
        (
            "qubit[2] q;\nrx(undefined_angle) q[0];",
            "Undefined key: undefined_angle",
        ),
    ],
)
def test_simulator_errors_become_task_failures(source: str, reason: str) -> None:
    with pytest.raises(TaskFailed) as raised:
        run_request(task(program(f"OPENQASM 3.0;\n{source}"), 10))
    assert reason in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_simulations_too_large_for_memory_fail_with_a_reason() -> None:
    caps = capabilities("braket_sv", 64)
    source = "OPENQASM 3.0;\nqubit[60] q;\nh q;\n#pragma braket result probability q[0]"
    with pytest.raises(
        TaskFailed, match="does not fit in memory: a 60-qubit state-vector simulation"
    ):
        run_request(task(program(source), 0, SV1_ARN, caps))


def test_run_refuses_invalid_tasks() -> None:
    with pytest.raises(TaskValidationError, match="shots: "):
        run_request(task(program(BELL), -1))
