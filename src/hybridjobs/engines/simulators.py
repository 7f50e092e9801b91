"""The simulators the gate-model engines run: the default simulators with the AST cache,
the compiled plans and (state vector, many qubits) lightning evolution.

Each class keeps the default simulator's ``run_openqasm`` / ``run_jaqcd`` /
``run_program_set``; only program parsing (:meth:`parse_program`) and simulation creation
(:meth:`initialize_simulation`) change, so validation and result building are the
default simulator's.
"""

from __future__ import annotations

import os
from typing import Any

from hybridjobs.engines import DEFAULT_LIGHTNING_MIN_QUBITS
from hybridjobs.engines.compiled import compiled_context
from hybridjobs.engines.lightning import LightningSimulation, lightning_available
from hybridjobs.engines.programs import CachedDensityMatrixSimulator, CachedStateVectorSimulator

_STATE_VECTOR_COPIES = 3  # the default evolution keeps the state, a copy and a buffer
_LIGHTNING_COPIES = 2  # lightning's state and the numpy copy read back
_DENSITY_MATRIX_COPIES = 3


class SimulationTooLarge(MemoryError):
    """The simulation cannot fit in this machine's memory; ``str(error)`` says why."""


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable, else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(kind: str, qubit_count: int, amplitudes: int, copies: int) -> None:
    """Raise SimulationTooLarge when ``copies`` arrays of ``amplitudes`` complex numbers
    cannot fit in available memory."""
    needed = 16 * amplitudes * copies
    free = available_memory()
    if needed > free:
        raise SimulationTooLarge(
            f"a {qubit_count}-qubit {kind} simulation needs about {_size(needed)} of memory; "
            f"this service has {_size(free)} available"
        )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class CompiledParsingMixin:
    """Program parsing through compiled plans when ``compiled`` is set and the program is in
    the subset (``noise``: noise pragmas belong to it), else the parent's parsing."""

    compiled: bool = True
    noise: bool = False

    def parse_program(self, program: Any) -> Any:
        """A compiled context when the program is in the subset, else the interpreter's."""
        if self.compiled:
            context = compiled_context(self, program, noise=self.noise)
            if context is not None:
                return context
        return super().parse_program(program)  # type: ignore[misc]

    def _parse_program_with_shots(self, program: Any, shots: int) -> Any:
        if self.compiled:
            context = compiled_context(self, program, noise=self.noise)
            if context is not None:
                context._shots = shots
                return context
        return super()._parse_program_with_shots(program, shots)  # type: ignore[misc]


class FastStateVectorSimulator(CompiledParsingMixin, CachedStateVectorSimulator):
    """The state-vector simulator with compiled plans and lightning for large circuits.

    ``lightning_min_qubits``: simulations with at least this many qubits evolve on
    lightning (0 or lightning missing: never). ``compiled``: use compiled plans.
    """

    def __init__(self, *, lightning_min_qubits: int | None = None, compiled: bool = True):
        super().__init__()
        self.lightning_min_qubits = (
            DEFAULT_LIGHTNING_MIN_QUBITS if lightning_min_qubits is None else lightning_min_qubits
        )
        self.compiled = compiled

    def initialize_simulation(self, **kwargs: Any) -> Any:
        """A lightning simulation for large circuits, else the default one."""
        qubit_count = int(kwargs["qubit_count"])
        threshold = self.lightning_min_qubits
        if 0 < threshold <= qubit_count and lightning_available():
            check_fits("state-vector", qubit_count, 2**qubit_count, _LIGHTNING_COPIES)
            return LightningSimulation(qubit_count, kwargs["shots"], kwargs["batch_size"])
        check_fits("state-vector", qubit_count, 2**qubit_count, _STATE_VECTOR_COPIES)
        return super().initialize_simulation(**kwargs)


class FastDensityMatrixSimulator(CompiledParsingMixin, CachedDensityMatrixSimulator):
    """The density-matrix simulator with compiled plans (noise pragmas included)."""

    noise = True

    def __init__(self, *, compiled: bool = True):
        super().__init__()
        self.compiled = compiled

    def initialize_simulation(self, **kwargs: Any) -> Any:
        """The default density-matrix simulation, after checking it fits in memory."""
        qubit_count = int(kwargs["qubit_count"])
        check_fits("density-matrix", qubit_count, 4**qubit_count, _DENSITY_MATRIX_COPIES)
        return super().initialize_simulation(**kwargs)
