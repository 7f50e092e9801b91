"""The store's contract, as the store's callers have always named it.

The contract itself belongs to the domain (:mod:`hybridjobs.jobs.ports`): the store is an
adapter that implements it, so the import arrow points from ``store`` to ``jobs`` and never
back (design.md §4.3). This module re-exports those names so that adapters, the scheduler
and tests can keep importing them from ``hybridjobs.store.base``; domain code imports
:mod:`hybridjobs.jobs.ports` directly.
"""

from __future__ import annotations

from hybridjobs.jobs.ports import (
    AppendOutcome,
    AppendResult,
    Claim,
    ClaimLost,
    IdempotencyConflict,
    IdempotencyKey,
    InstanceLine,
    JobDetails,
    JobFilter,
    JobStore,
    Lease,
    LogEvent,
    LogStreamSummary,
    MetricPoint,
    UnknownJob,
    plan_append,
)

__all__ = [
    "AppendOutcome",
    "AppendResult",
    "Claim",
    "ClaimLost",
    "IdempotencyConflict",
    "IdempotencyKey",
    "InstanceLine",
    "JobDetails",
    "JobFilter",
    "JobStore",
    "Lease",
    "LogEvent",
    "LogStreamSummary",
    "MetricPoint",
    "UnknownJob",
    "plan_append",
]
