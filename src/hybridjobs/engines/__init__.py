"""Simulation engines, by name: what a device's ``engine`` field points at.

``engine_for(name)`` returns the process's engine for ``name`` (created on first use;
engine modules are imported lazily, so importing this package is cheap). The task worker
calls :func:`run_request`; the API calls :func:`validate_request` before storing a task.
"""

from __future__ import annotations

import threading

from hybridjobs.engines.base import Engine, EngineRequest, EngineResult

ENGINE_NAMES = ("braket_sv", "braket_dm", "braket_tn", "emulator", "braket_ahs")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _create(name: str) -> Engine:
    if name == "braket_sv":
        from hybridjobs.engines.gatemodel import StateVectorEngine

        return StateVectorEngine()
    if name == "braket_dm":
        from hybridjobs.engines.gatemodel import DensityMatrixEngine

        return DensityMatrixEngine()
    if name == "braket_tn":
        from hybridjobs.engines.gatemodel import TensorNetworkEngine

        return TensorNetworkEngine()
    if name == "emulator":
        from hybridjobs.engines.emulator import EmulatorEngine

        return EmulatorEngine()
    if name == "braket_ahs":
        from hybridjobs.engines.ahs import AhsEngine

        return AhsEngine()
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
    """Validate ``request`` on its engine; TaskValidationError names the problem."""
    engine_for(request.engine).validate(request)


__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "EngineRequest",
    "EngineResult",
    "engine_for",
    "run_request",
    "validate_request",
]
