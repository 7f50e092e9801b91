"""Compiled plans: same gates, same results as the interpreter, for new inputs each run."""

from __future__ import annotations

import math

import pytest
from braket.ir.openqasm import Program

from engines.gate_corpus import (
    DM_CASES,
    MEASURED,
    PHYSICAL,
    SV_CASES,
    VARIATIONAL,
    Case,
    assert_counts_plausible,
    assert_results_match,
    reference,
)
from hybridjobs.engines.compiled import _plans, compiled_context
from hybridjobs.engines.programs import interpret
from hybridjobs.engines.simulators import FastDensityMatrixSimulator, FastStateVectorSimulator


def _simulator(case: Case) -> FastStateVectorSimulator | FastDensityMatrixSimulator:
    if case.density_matrix_only:
        return FastDensityMatrixSimulator()
    return FastStateVectorSimulator(lightning_min_qubits=0)


@pytest.mark.parametrize("case", SV_CASES + DM_CASES, ids=lambda case: case.name)
def test_the_subset_compiles_and_the_rest_falls_back(case: Case) -> None:
    program = Program(source=case.source, inputs=case.inputs)
    context = compiled_context(_simulator(case), program, noise=case.density_matrix_only)
    assert (context is not None) == case.compiled


@pytest.mark.parametrize("case", SV_CASES + DM_CASES, ids=lambda case: case.name)
def test_results_are_bit_for_bit_the_default_simulators(case: Case) -> None:
    simulator = _simulator(case)
    variants = [case.inputs] + [{k: v * 1.7 - 0.3 for k, v in case.inputs.items()}] * 2
    for inputs in variants:
        got = simulator.run_openqasm(Program(source=case.source, inputs=inputs), shots=0)
        assert_results_match(got, reference(case.source, inputs, 0, case.density_matrix_only), 0)


@pytest.mark.parametrize(
    "inputs",
    [{"a": 0.5, "b": 1.5, "c": 7.0}, {"a": -2, "b": 3, "c": 1}, {"a": 1e-9, "b": 0.0, "c": -3.3}],
)
def test_gate_parameters_equal_the_interpreters(inputs: dict[str, float]) -> None:
    simulator = FastStateVectorSimulator()
    program = Program(source=VARIATIONAL, inputs=inputs)
    compiled = compiled_context(simulator, program, noise=False).circuit
    interpreted = interpret(simulator.create_program_context(), VARIATIONAL, inputs).circuit
    assert len(compiled.instructions) == len(interpreted.instructions)
    for got, want in zip(compiled.instructions, interpreted.instructions, strict=True):
        assert type(got) is type(want) and got.targets == want.targets
        for name in ("_angle", "_angle_1", "_angle_2", "_angle_3", "_theta", "_phi", "_lambda"):
            assert getattr(got, name, None) == getattr(want, name, None), name
    assert compiled.results == interpreted.results
    assert compiled.qubit_set == interpreted.qubit_set


def test_the_plan_is_reused_and_its_template_left_alone() -> None:
    simulator = FastStateVectorSimulator()
    expected = reference(PHYSICAL, {}, 0, False)  # $0, $2: remapped to 0, 1 in place
    for _ in range(3):
        assert_results_match(simulator.run_openqasm(Program(source=PHYSICAL), shots=0), expected, 0)
    known, plan = _plans.get((PHYSICAL, False))
    assert known and plan is not None
    assert plan.template.qubit_set == {0, 2}


def test_measured_programs_sample_like_the_default() -> None:
    simulator = FastStateVectorSimulator()
    program = Program(source=MEASURED, inputs={"a": 1.1})
    assert compiled_context(simulator, program, noise=False) is not None
    result = simulator.run_openqasm(program, shots=4000)
    expected = reference(MEASURED, {"a": 1.1}, 1, False)
    assert result.measuredQubits == expected.measuredQubits == [2, 1, 0]  # b[0], b[1], b[2]
    p1 = math.sin(1.1 / 2) ** 2
    probabilities = {"000": (1 - p1) / 2, "010": p1 / 2, "101": (1 - p1) / 2, "111": p1 / 2}
    assert_counts_plausible(result.measurements, probabilities)


@pytest.mark.parametrize(
    "body",
    [
        "input int n;\nqubit q;\nrx(n) q;",  # input type outside the subset
        "qubit[2] q;\nbit b;\nb = measure q[0];\nh q[0];",  # gate after a measurement
        "input float a;\nqubit q;\nrx(sin(a)) q;",  # function call
        "qubit[2] q;\nctrl @ x q[0], q[1];",  # modifier
        "qubit[2] q;\nh q;",  # register broadcast
        "qubit q;\nreset q;\nh q;",
    ],
)
def test_programs_outside_the_subset_are_not_compiled(body: str) -> None:
    source = f"OPENQASM 3.0;\n{body}\n#pragma braket result probability"
    program = Program(source=source, inputs={"a": 0.3, "n": 2})
    assert compiled_context(FastStateVectorSimulator(), program, noise=False) is None


def test_noise_compiles_only_for_the_density_matrix_simulator() -> None:
    noisy = DM_CASES[0]
    program = Program(source=noisy.source, inputs=noisy.inputs)
    assert compiled_context(FastStateVectorSimulator(), program, noise=False) is None
    with pytest.raises(TypeError, match="Noise instructions are not supported"):
        FastStateVectorSimulator().run_openqasm(program, shots=0)


def test_missing_inputs_fail_as_in_the_default_simulator() -> None:
    simulator = FastStateVectorSimulator()
    program = Program(source=VARIATIONAL, inputs={"a": 0.1, "b": 0.2})
    assert compiled_context(simulator, program, noise=False) is None
    with pytest.raises(NameError, match="Missing input variable 'c'"):
        simulator.run_openqasm(program, shots=0)
    # the plan still compiles (and is used) once all inputs are given
    complete = Program(source=VARIATIONAL, inputs={"a": 0.1, "b": 0.2, "c": 0.3})
    assert compiled_context(simulator, complete, noise=False) is not None
