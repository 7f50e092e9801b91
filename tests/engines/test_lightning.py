"""Lightning evolution gives the default simulator's states and results (threshold lowered so
small circuits take the lightning path)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from braket.default_simulator import gate_operations as g
from braket.default_simulator.state_vector_simulation import StateVectorSimulation
from braket.ir.openqasm import Program

from engines.gate_corpus import (
    SAMPLED,
    SV_CASES,
    Case,
    assert_counts_plausible,
    assert_results_match,
    reference,
)
from hybridjobs.engines import simulators
from hybridjobs.engines.lightning import LightningSimulation, lightning_available
from hybridjobs.engines.simulators import FastStateVectorSimulator

pytestmark = pytest.mark.skipif(not lightning_available(), reason="pennylane-lightning missing")

_PREPARE = [g.RotY([q], 0.3 + 0.4 * q) for q in range(4)] + [
    g.RotZ([q], 0.2 * q + 0.1) for q in range(4)
]
_GATES = [
    g.Hadamard([1]), g.PauliX([0]), g.PauliY([2]), g.PauliZ([3]), g.S([1]), g.Si([2]),
    g.T([0]), g.Ti([3]), g.V([1]), g.Vi([2]), g.Identity([0]), g.CX([2, 0]), g.CY([1, 3]),
    g.CZ([0, 3]), g.Swap([3, 1]), g.ISwap([0, 2]), g.PSwap([1, 2], 0.7), g.XY([3, 0], 0.4),
    g.XX([0, 1], 0.5), g.YY([2, 3], 0.6), g.ZZ([1, 3], 0.8), g.CCNot([3, 0, 2]),
    g.CSwap([1, 2, 0]), g.RotX([2], 1.1), g.RotY([3], -0.3), g.RotZ([0], 2.2),
    g.PhaseShift([1], 0.9), g.CPhaseShift([0, 2], 0.4), g.CPhaseShift00([1, 0], 0.3),
    g.CPhaseShift01([2, 3], 0.2), g.CPhaseShift10([3, 1], 0.1), g.CV([0, 1]), g.ECR([2, 1]),
    g.PRx([3], 0.2, 0.5), g.GPi([0], 0.6), g.GPi2([1], 0.7), g.MS([2, 0], 0.1, 0.2, 0.3),
    g.U([1], 0.1, 0.2, 0.3), g.GPhase([2], 0.4), g.GPhase([], 0.9),
    g.Unitary([0, 3], np.kron(g.Hadamard([0]).matrix, g.S([0]).matrix)),
    # modifiers: controls (positive and negative) and powers
    g.RotX([0, 1], 0.3, ctrl_modifiers=[1]), g.PauliX([2, 3, 1], ctrl_modifiers=[0, 1]),
    g.S([2], power=-1), g.T([1], power=2), g.PauliX([3], power=0.5),
    g.CX([0, 1, 2], ctrl_modifiers=[1], power=-1), g.XY([3, 2], 0.2, power=-1),
]  # fmt: skip


@pytest.mark.parametrize("gate", _GATES, ids=lambda gate: f"{type(gate).__name__}{gate.targets}")
def test_each_gate_evolves_as_in_the_default_simulator(gate: g.GateOperation) -> None:
    default = StateVectorSimulation(4, 0, 1)
    default.evolve([*_PREPARE, gate])
    fast = LightningSimulation(4, 0, 1)
    fast.evolve([*_PREPARE, gate])
    np.testing.assert_allclose(fast.state_vector, default.state_vector, rtol=0, atol=1e-12)


def test_a_second_evolve_continues_from_the_current_state() -> None:
    default, fast = StateVectorSimulation(4, 0, 1), LightningSimulation(4, 0, 1)
    for simulation in (default, fast):
        simulation.evolve(_PREPARE)
        simulation.evolve([g.Reset([1])])  # lightning cannot reset: this call runs on numpy
        simulation.evolve(_GATES[:12])
    np.testing.assert_allclose(fast.state_vector, default.state_vector, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", SV_CASES, ids=lambda case: case.name)
def test_corpus_results_match_the_default_simulator(case: Case) -> None:
    simulator = FastStateVectorSimulator(lightning_min_qubits=1)
    got = simulator.run_openqasm(Program(source=case.source, inputs=case.inputs), shots=0)
    assert_results_match(got, reference(case.source, case.inputs, 0, False), 1e-9)


def test_sampled_results_are_plausible() -> None:
    simulator = FastStateVectorSimulator(lightning_min_qubits=1)
    inputs = {"a": 0.8}
    result = simulator.run_openqasm(Program(source=SAMPLED, inputs=inputs), shots=3000)
    # measurements are taken after the basis rotation for `sample x(q[1])`
    rotated = SAMPLED.replace("#pragma braket result sample x(q[1])", "h q[1];").replace(
        "#pragma braket result variance x(q[1])", ""
    )
    probabilities = reference(rotated, inputs, 0, False).resultTypes[0].value
    assert len(probabilities) == 8
    outcomes = {format(i, "03b"): float(p) for i, p in enumerate(probabilities)}
    assert_counts_plausible(result.measurements, outcomes)


def test_the_threshold_picks_the_simulation() -> None:
    simulator = FastStateVectorSimulator(lightning_min_qubits=3)
    assert type(simulator.initialize_simulation(qubit_count=3, shots=0, batch_size=1)) is (
        LightningSimulation
    )
    small = simulator.initialize_simulation(qubit_count=2, shots=0, batch_size=1)
    assert type(small) is StateVectorSimulation
    never = FastStateVectorSimulator(lightning_min_qubits=0)
    assert type(never.initialize_simulation(qubit_count=5, shots=0, batch_size=1)) is (
        StateVectorSimulation
    )


def test_without_lightning_the_default_simulation_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulators, "lightning_available", lambda: False)
    simulator = FastStateVectorSimulator(lightning_min_qubits=1)
    simulation = simulator.initialize_simulation(qubit_count=3, shots=0, batch_size=1)
    assert type(simulation) is StateVectorSimulation


def test_the_service_configuration_sets_the_threshold() -> None:
    from hybridjobs.engines import EngineConfig, configure, engine_for

    assert FastStateVectorSimulator().lightning_min_qubits == 14
    try:
        configure(EngineConfig(lightning_min_qubits=9))
        engine: Any = engine_for("braket_sv")
        assert engine.simulator().lightning_min_qubits == 9
    finally:
        configure(EngineConfig())


def test_simulations_that_cannot_fit_fail_clearly() -> None:
    with pytest.raises(simulators.SimulationTooLarge, match="60-qubit state-vector"):
        FastStateVectorSimulator().initialize_simulation(qubit_count=60, shots=0, batch_size=1)
