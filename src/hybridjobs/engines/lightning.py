"""State-vector evolution on pennylane-lightning's C++ kernels.

:class:`LightningSimulation` is the default simulator's ``StateVectorSimulation`` with
``evolve`` done by ``pennylane_lightning.lightning_qubit_ops.StateVectorC128``: Braket
gates with a lightning kernel of the same convention (checked by the tests) run as named
kernels, every other unitary as ``applyMatrix`` / ``applyControlledMatrix`` with the
gate's own matrix. Everything after evolution (state vector, probabilities, expectation
values, sampling, result building) is the default simulator's code on the resulting numpy
state, so the result types are the default simulator's. Operations lightning cannot take
(mid-circuit ``Reset``/``Projection``) make that ``evolve`` call use the default numpy path.
Expectation values (and so variances) of Pauli, Hadamard, Hermitian and tensor-product
observables are computed by lightning on its own copy of the final state.

Both libraries order qubits big-endian (qubit 0 is the most significant bit).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from braket.default_simulator import gate_operations as gates
from braket.default_simulator import observables
from braket.default_simulator.operation import GateOperation
from braket.default_simulator.state_vector_simulation import StateVectorSimulation

_NAMED: dict[type, tuple[str, bool, bool]] = {
    # Braket gate class: (lightning kernel, inverse, takes the gate's angle)
    gates.Hadamard: ("Hadamard", False, False),
    gates.PauliX: ("PauliX", False, False),
    gates.PauliY: ("PauliY", False, False),
    gates.PauliZ: ("PauliZ", False, False),
    gates.S: ("S", False, False),
    gates.Si: ("S", True, False),
    gates.T: ("T", False, False),
    gates.Ti: ("T", True, False),
    gates.V: ("SX", False, False),
    gates.Vi: ("SX", True, False),
    gates.CX: ("CNOT", False, False),
    gates.CY: ("CY", False, False),
    gates.CZ: ("CZ", False, False),
    gates.Swap: ("SWAP", False, False),
    gates.CCNot: ("Toffoli", False, False),
    gates.CSwap: ("CSWAP", False, False),
    gates.RotX: ("RX", False, True),
    gates.RotY: ("RY", False, True),
    gates.RotZ: ("RZ", False, True),
    gates.PhaseShift: ("PhaseShift", False, True),
    gates.CPhaseShift: ("ControlledPhaseShift", False, True),
    gates.XX: ("IsingXX", False, True),
    gates.YY: ("IsingYY", False, True),
    gates.ZZ: ("IsingZZ", False, True),
    gates.XY: ("IsingXY", False, True),
    gates.PSwap: ("PSWAP", False, True),
}
_UNSUPPORTED = (gates.Reset, gates.Projection)


@functools.cache
def _ops() -> Any | None:
    try:
        from pennylane_lightning import lightning_qubit_ops
    except ImportError:
        return None
    return lightning_qubit_ops


def lightning_available() -> bool:
    """Whether pennylane-lightning's kernels can be loaded in this process."""
    return _ops() is not None


class LightningSimulation(StateVectorSimulation):  # type: ignore[misc]
    """A StateVectorSimulation whose gates run on lightning (see the module docstring).

    Only create one when :func:`lightning_available` is true.
    """

    _state_vector: Any

    def __init__(self, qubit_count: int, shots: int, batch_size: int) -> None:
        super().__init__(qubit_count, shots, batch_size)
        self._initial = True
        self._lightning: Any = None  # lightning's copy of the state, while it is current

    def evolve(self, operations: list[Any]) -> None:
        """Apply ``operations`` to the state (numpy path if any cannot run on lightning)."""
        self._lightning = None
        if not all(
            isinstance(op, GateOperation) and not isinstance(op, _UNSUPPORTED) for op in operations
        ):
            super().evolve(operations)
            self._initial = False
            return
        ops = _ops()
        assert ops is not None, "LightningSimulation needs pennylane-lightning"
        state = ops.StateVectorC128(self._qubit_count)
        if not self._initial:
            state.updateData(np.ascontiguousarray(self._state_vector, dtype=np.complex128))
        phase = _apply_all(state, operations)
        result = np.empty(2**self._qubit_count, dtype=np.complex128)
        state.getState(result)
        if phase != 1:
            result *= phase
        self._state_vector = result
        self._initial = False
        self._lightning = None if phase != 1 else state

    def expectation(self, observable: Any) -> float:
        """<state|observable|state>, on lightning for Pauli, Hadamard, Hermitian and tensor
        products of them (the default's numpy code otherwise)."""
        ops = _ops()
        if self._lightning is not None and ops is not None:
            converted = _observable(ops, observable)
            if converted is not None:
                return float(ops.MeasurementsC128(self._lightning).expval(converted))
        return float(super().expectation(observable))


_NAMED_OBSERVABLES = {
    observables.PauliX: "PauliX",
    observables.PauliY: "PauliY",
    observables.PauliZ: "PauliZ",
    observables.Hadamard: "Hadamard",
    observables.Identity: "Identity",
}


def _observable(ops: Any, observable: Any) -> Any | None:
    """The lightning observable for a default-simulator observable, or None."""
    named = _NAMED_OBSERVABLES.get(type(observable))
    if named is not None:
        wires = list(observable.measured_qubits)
        return ops.observables.NamedObsC128(named, wires) if len(wires) == 1 else None
    if type(observable) is observables.Hermitian and observable.targets:
        matrix = np.ascontiguousarray(observable.matrix.ravel(), dtype=np.complex128)
        return ops.observables.HermitianObsC128(matrix, list(observable.targets))
    if type(observable) is observables.TensorProduct:
        factors = [_observable(ops, factor) for factor in observable.factors]
        if any(factor is None for factor in factors):
            return None
        return ops.observables.TensorProdObsC128(factors)
    return None


def _apply_all(state: Any, operations: list[Any]) -> complex:
    """Apply each operation to the lightning ``state``; return the accumulated global phase
    of target-less operations (``gphase`` without qubits), which lightning cannot apply."""
    kernels: dict[str, Any] = {}
    phase: complex = 1
    for op in operations:
        targets = list(op.targets)
        if not targets:
            phase *= complex(op.matrix[0, 0])
            continue
        if type(op) is gates.Identity:
            continue
        named = _NAMED.get(type(op))
        controls = op._ctrl_modifiers
        power = op._power
        if named is not None and not controls and power in (1, -1):
            name, inverse, has_angle = named
            kernel = kernels.get(name)
            if kernel is None:
                kernel = kernels[name] = getattr(state, name)
            kernel(targets, inverse != (power == -1), [float(op._angle)] if has_angle else [])
            continue
        matrix = np.ascontiguousarray(op.matrix, dtype=np.complex128)
        if controls:
            count = len(controls)
            state.applyControlledMatrix(
                matrix, targets[:count], [bool(v) for v in controls], targets[count:], False
            )
        else:
            state.applyMatrix(matrix, targets, False)
    return phase
