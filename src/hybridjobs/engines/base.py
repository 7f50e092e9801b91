"""What every simulation engine is given and gives back, as the engines have always
named it.

The contract belongs to the tasks domain (:mod:`hybridjobs.tasks.engineport`); the
engines implement it, so the import arrow points from ``engines`` to ``tasks`` and never
back (design.md §4.3). This module re-exports its names.
"""

from __future__ import annotations

from hybridjobs.tasks.engineport import (
    Engine,
    EngineRequest,
    EngineResult,
    TaskFailed,
    TaskValidationError,
)

__all__ = ["Engine", "EngineRequest", "EngineResult", "TaskFailed", "TaskValidationError"]
