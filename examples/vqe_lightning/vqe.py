"""VQE for the H2 molecule with PennyLane on the embedded ``lightning.qubit`` simulator.

The hyperparameters bind to ``main``'s arguments (each converted by its annotation), so
``--hp iterations=10 --hp bond_length=0.9`` arrive as ``int`` and ``float``. The energy is
logged with ``log_metric`` every iteration; the result compares the final energy with the
exact ground-state energy of the same Hamiltonian. Entry point: ``vqe:main``.
"""

from __future__ import annotations

import time

import pennylane as qml
from braket.jobs import get_job_device_arn, save_job_result
from braket.jobs.metrics import log_metric
from pennylane import numpy as pnp

ANGSTROM_IN_BOHR = 1.8897259886


def main(stepsize: float = 0.4, iterations: int = 20, bond_length: float = 0.7414) -> None:
    """Minimise <H> over the one-parameter double-excitation ansatz (adjoint gradients)."""
    device_arn = get_job_device_arn()  # e.g. local:pennylane/lightning.qubit
    if not device_arn.startswith("local:pennylane/"):
        raise ValueError(f"this example needs an embedded PennyLane device, not {device_arn}")
    half = bond_length * ANGSTROM_IN_BOHR / 2
    coordinates = pnp.array([0.0, 0.0, -half, 0.0, 0.0, half], requires_grad=False)
    hamiltonian, qubits = qml.qchem.molecular_hamiltonian(["H", "H"], coordinates)
    hartree_fock = qml.qchem.hf_state(electrons=2, orbitals=qubits)
    device = qml.device(device_arn.split("/", 1)[1], wires=qubits)

    @qml.qnode(device, diff_method="adjoint")
    def energy(theta: pnp.ndarray) -> float:
        qml.BasisState(hartree_fock, wires=range(qubits))
        qml.DoubleExcitation(theta[0], wires=[0, 1, 2, 3])
        return qml.expval(hamiltonian)

    exact = float(min(pnp.linalg.eigvalsh(qml.matrix(hamiltonian, wire_order=range(qubits)))))
    print(f"H2 at {bond_length} A on {device_arn}: {qubits} qubits, exact energy {exact:.6f} Ha")
    optimizer = qml.GradientDescentOptimizer(stepsize)
    theta = pnp.array([0.0], requires_grad=True)
    started = time.time()
    for iteration in range(1, iterations + 1):
        angle = float(theta[0])
        theta, before = optimizer.step_and_cost(energy, theta)  # the energy at ``angle``
        log_metric("energy", float(before), iteration_number=iteration)
        print(f"iteration {iteration:2d}: E = {float(before):.6f} Ha at theta = {angle:.5f}")
    value = float(energy(theta))
    save_job_result(
        {
            "energy": value,
            "exact_energy": exact,
            "error": value - exact,
            "theta": float(theta[0]),
            "iterations": iterations,
            "stepsize": stepsize,
            "bond_length": bond_length,
            "seconds": time.time() - started,
        }
    )
