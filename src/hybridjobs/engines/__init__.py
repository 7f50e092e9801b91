"""Simulation engines, by name: what a device's ``engine`` field points at.

``engine_for(name)`` returns the process's engine for ``name`` (created on first use;
engine modules are imported lazily, so importing this package is cheap). The task worker
calls :func:`run_request`; the API calls :func:`validate_request` before storing a task.
Both processes first call :func:`configure` with the service's limits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hybridjobs.engines.base import Engine, EngineRequest, EngineResult

ENGINE_NAMES = ("braket_sv", "braket_dm", "braket_tn", "emulator", "braket_ahs")
DEFAULT_LIGHTNING_MIN_QUBITS = 14
"""State-vector simulations with at least this many qubits evolve on lightning."""


@dataclass(frozen=True)
class EngineConfig:
    """The limits every engine of a process works within.

    ``max_task_memory_bytes`` caps one task's simulator state (``None``: no cap beyond the
    memory the machine has); ``lightning_min_qubits`` is where state-vector evolution moves
    to lightning (0: never).
    """

    max_task_memory_bytes: int | None = None
    lightning_min_qubits: int = DEFAULT_LIGHTNING_MIN_QUBITS


_config = EngineConfig()
_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_first_use = threading.Lock()
"""Held by validations of engines that have not validated a task yet (first imports)."""
_validated: set[str] = set()
"""Engines that have validated a task in this process (their modules are imported)."""


def configure(config: EngineConfig) -> None:
    """Set this process's engine limits; engines created before are replaced."""
    global _config
    with _lock:
        _config = config
        _engines.clear()


def _create(name: str) -> Engine:
    if name == "braket_sv":
        from hybridjobs.engines.gatemodel import StateVectorEngine

        return StateVectorEngine(lightning_min_qubits=_config.lightning_min_qubits)
    if name == "braket_dm":
        from hybridjobs.engines.gatemodel import DensityMatrixEngine

        return DensityMatrixEngine()
    if name == "braket_tn":
        from hybridjobs.engines.gatemodel import TensorNetworkEngine

        return TensorNetworkEngine()
    if name == "emulator":
        from hybridjobs.engines.emulator import EmulatorEngine

        return EmulatorEngine(_config.max_task_memory_bytes)
    if name == "braket_ahs":
        from hybridjobs.engines.ahs import AhsEngine

        return AhsEngine(_config.max_task_memory_bytes)
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")


def engine_for(name: str) -> Engine:
    """The engine called ``name`` (one instance per process); ValueError if unknown."""
    with _lock:
        engine = _engines.get(name)
        if engine is None:
            engine = _engines[name] = _create(name)
        return engine


def run_request(request: EngineRequest) -> EngineResult:
    """Run ``request`` on its engine (what the task worker process calls)."""
    return engine_for(request.engine).run(request)


def validate_request(request: EngineRequest) -> None:
    """Validate ``request`` on its engine; TaskValidationError names the problem.

    Until an engine has validated one task successfully, its validations run one at a
    time under a process-wide lock: they import the simulator's modules on first use, and
    two threads importing ``braket.default_simulator`` and ``braket.emulation`` at once
    (e.g. the service's background warm-up and the first CreateQuantumTask) can deadlock
    in the import system (``_DeadlockError``). Afterwards validation takes no lock.
    """
    engine = engine_for(request.engine)
    if request.engine in _validated:
        engine.validate(request)
        return
    with _first_use:
        engine.validate(request)
        _validated.add(request.engine)


__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "EngineConfig",
    "EngineRequest",
    "EngineResult",
    "configure",
    "engine_for",
    "run_request",
    "validate_request",
]
