"""The store's contract for quantum tasks, as the store's callers have always named it.

The contract belongs to the tasks domain (:mod:`hybridjobs.tasks.ports`);
``hybridjobs.store.sqltasks`` implements it. This module re-exports its names so the
import arrow points from ``store`` to ``tasks`` and never back (design.md §4.3).
"""

from __future__ import annotations

from hybridjobs.tasks.ports import QueueSize, TaskStore

__all__ = ["QueueSize", "TaskStore"]
