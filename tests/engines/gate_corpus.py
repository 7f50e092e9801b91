"""Gate-model programs every fast path must run exactly as the default simulator does.

Each entry is an OpenQASM 3 source, its inputs, and which engine paths it exercises.
``REFERENCE`` runs a program on the unmodified default simulator; ``capabilities`` builds a
device's capabilities like the catalog does (LocalSimulator properties, our limits).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SV1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"


@dataclass(frozen=True)
class Case:
    """A corpus program. ``compiled``: it is in the compiled subset (state vector)."""

    name: str
    source: str
    inputs: dict[str, Any] = field(default_factory=dict)
    compiled: bool = False
    density_matrix_only: bool = False


def _qasm(*lines: str) -> str:
    return "\n".join(("OPENQASM 3.0;", *lines))


EXACT_RESULTS = (
    "#pragma braket result probability",
    "#pragma braket result probability q[0], q[2]",
    "#pragma braket result expectation z(q[0]) @ x(q[1])",
    "#pragma braket result variance y(q[2])",
    "#pragma braket result expectation h(q[1])",
    "#pragma braket result expectation x all",
    "#pragma braket result expectation hermitian([[0, -1im], [1im, 0]]) q[1]",
    '#pragma braket result amplitude "000", "101", "111"',
    "#pragma braket result state_vector",
    "#pragma braket result density_matrix q[0], q[1]",
)

BELL = _qasm("qubit[2] q;", "h q[0];", "cnot q[0], q[1];", "#pragma braket result probability")

VARIATIONAL = _qasm(
    "input float a;",
    "input float b;",
    "input angle c;",
    "qubit[3] q;",
    "rx(a) q[0];",
    "ry(2 * b + 0.1) q[1];",
    "rz(-c / 2) q[2];",
    "cnot q[0], q[1];",
    "cphaseshift(a * pi) q[1], q[2];",
    "xx(a - b) q[0], q[2];",
    "phaseshift(b ** 2) q[1];",
    "U(a, b, 3 / 2) q[1];",
    "prx(a, pi / 4) q[2];",
    "ms(a, b, 0.5) q[0], q[1];",
    "rx(1 / 2 + a) q[0];",
    *EXACT_RESULTS,
)

ALL_GATES = _qasm(
    "qubit[3] q;",
    "h q[0]; x q[1]; y q[2]; z q[0]; s q[1]; si q[2]; t q[0]; ti q[1]; v q[2]; vi q[0];",
    "h q[1]; h q[2];",
    "cnot q[0], q[1]; cy q[1], q[2]; cz q[2], q[0]; cv q[0], q[2]; ecr q[1], q[0];",
    "swap q[0], q[2]; iswap q[1], q[2]; pswap(0.3) q[0], q[1]; xy(0.4) q[1], q[2];",
    "yy(0.5) q[0], q[1]; zz(0.6) q[1], q[2]; xx(0.7) q[2], q[0];",
    "cphaseshift00(0.1) q[0], q[1]; cphaseshift01(0.2) q[1], q[2];",
    "cphaseshift10(0.3) q[2], q[0]; phaseshift(0.9) q[1];",
    "ccnot q[0], q[1], q[2]; cswap q[2], q[0], q[1];",
    "gpi(0.2) q[0]; gpi2(0.3) q[1]; i q[2]; U(0.1, 0.2, 0.3) q[2];",
    "#pragma braket unitary([[0, 1im], [1im, 0]]) q[1]",
    *EXACT_RESULTS,
)

MODIFIERS = _qasm(
    "qubit[3] q;",
    "h q;",
    "ctrl @ rx(0.3) q[0], q[1];",
    "negctrl @ x q[1], q[2];",
    "inv @ s q[0];",
    "pow(0.5) @ x q[2];",
    "ctrl @ ctrl @ ry(0.7) q[0], q[1], q[2];",
    "inv @ pow(2) @ t q[1];",
    "gphase(0.25);",
    *EXACT_RESULTS,
)

ADVANCED = _qasm(
    "input float theta;",
    "qubit[3] q;",
    "gate entangle(p) a, b { h a; cnot a, b; rz(p) b; }",
    "for int i in [0:1] { entangle(theta + i) q[i], q[i + 1]; }",
    "if (theta > 0.5) { x q[0]; } else { y q[0]; }",
    *EXACT_RESULTS,
)

PHYSICAL = _qasm(
    "h $0;",
    "cnot $0, $2;",
    "rx(0.4) $2;",
    "#pragma braket result probability $0, $2",
    "#pragma braket result expectation z($0) @ z($2)",
)

MEASURED = _qasm(
    "input float a;",
    "bit[3] b;",
    "qubit[3] q;",
    "h q[0];",
    "ry(a) q[1];",
    "cnot q[0], q[2];",
    "b[0] = measure q[2];",
    "b[2] = measure q[0];",
    "b[1] = measure q[1];",
)

SAMPLED = _qasm(
    "input float a;",
    "qubit[3] q;",
    "h q[0];",
    "ry(a) q[1];",
    "cnot q[0], q[2];",
    "#pragma braket result probability",
    "#pragma braket result expectation z(q[0]) @ z(q[2])",
    "#pragma braket result sample x(q[1])",
    "#pragma braket result variance x(q[1])",
)

NOISY = _qasm(
    "input float a;",
    "qubit[3] q;",
    "h q[0];",
    "rx(a) q[1];",
    "#pragma braket noise bit_flip(0.1) q[0]",
    "cnot q[0], q[1];",
    "#pragma braket noise depolarizing(0.05) q[1]",
    "#pragma braket noise two_qubit_depolarizing(0.02) q[0], q[1]",
    "#pragma braket noise amplitude_damping(0.2) q[2]",
    "#pragma braket noise kraus([[0.9486832980505138, 0], [0, 0.9486832980505138]],"
    " [[0, 0.31622776601683794], [0.31622776601683794, 0]]) q[2]",
    "cz q[1], q[2];",
    "#pragma braket result probability",
    "#pragma braket result density_matrix",
    "#pragma braket result expectation z(q[0]) @ z(q[1])",
)

SV_CASES = (
    Case("bell", BELL, compiled=True),
    Case("variational", VARIATIONAL, {"a": 0.31, "b": -1.2, "c": 4.5}, compiled=True),
    Case("all_gates", ALL_GATES, compiled=True),
    Case("modifiers", MODIFIERS),
    Case("advanced", ADVANCED, {"theta": 0.8}),
    Case("physical", PHYSICAL, compiled=True),
)
DM_CASES = (Case("noisy", NOISY, {"a": 0.7}, compiled=True, density_matrix_only=True),)


def capabilities(simulator: str, qubits: int, shots: tuple[int, int] = (0, 100_000)) -> str:
    """The catalog-style capabilities JSON of ``braket_sv`` or ``braket_dm``."""
    from braket.devices import LocalSimulator

    document = json.loads(LocalSimulator(simulator).properties.json())
    document["paradigm"]["qubitCount"] = qubits
    document["service"]["shotsRange"] = list(shots)
    return json.dumps(document)


def reference(source: str, inputs: dict[str, Any], shots: int, density_matrix: bool) -> Any:
    """The unmodified default simulator's result."""
    from braket.default_simulator import DensityMatrixSimulator, StateVectorSimulator
    from braket.ir.openqasm import Program

    simulator = DensityMatrixSimulator() if density_matrix else StateVectorSimulator()
    return simulator.run_openqasm(Program(source=source, inputs=inputs), shots=shots)


def assert_values_close(actual: Any, expected: Any, tolerance: float = 1e-9) -> None:
    """Result values (numbers, arrays, amplitude dicts; complex numbers also as a results
    document's ``[re, im]`` pairs) agree within ``tolerance`` (0: bit for bit)."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected)
        for key, value in expected.items():
            assert_values_close(actual[key], value, tolerance)
        return
    want = np.asarray(expected)
    got = np.asarray(actual)
    if np.iscomplexobj(want) and not np.iscomplexobj(got) and got.shape == (*want.shape, 2):
        got = got[..., 0] + 1j * got[..., 1]  # a results document's [re, im] pairs
    got, want = got.astype(complex), want.astype(complex)
    if tolerance == 0:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance)


def assert_results_match(actual: Any, expected: Any, tolerance: float = 1e-9) -> None:
    """Two GateModelTaskResults request the same result types with values within
    ``tolerance``, and measure the same qubits."""
    assert [rt.type for rt in actual.resultTypes] == [rt.type for rt in expected.resultTypes]
    for got, want in zip(actual.resultTypes, expected.resultTypes, strict=True):
        assert_values_close(got.value, want.value, tolerance)
    assert actual.measuredQubits == expected.measuredQubits


def assert_counts_plausible(
    measurements: list[list[int]] | np.ndarray, probabilities: dict[str, float], sigmas: float = 5
) -> None:
    """Every outcome's count is within ``sigmas`` binomial standard deviations (plus one)
    of ``shots * p``, and outcomes of probability 0 never occur."""
    rows = np.asarray(measurements, dtype=int)
    shots = len(rows)
    counts: dict[str, int] = {}
    for row in rows:
        key = "".join(str(bit) for bit in row)
        counts[key] = counts.get(key, 0) + 1
    for outcome in set(counts) | set(probabilities):
        p = probabilities.get(outcome, 0.0)
        allowed = sigmas * np.sqrt(shots * p * (1 - p)) + 1
        assert abs(counts.get(outcome, 0) - shots * p) <= allowed, (outcome, counts, p)
