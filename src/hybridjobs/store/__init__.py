"""Durable storage of jobs, events, tags, idempotency records, logs and metrics."""

from hybridjobs.store.base import (
    IdempotencyConflict,
    IdempotencyKey,
    JobDetails,
    JobFilter,
    JobStore,
    LogEvent,
    LogStreamSummary,
    MetricPoint,
)

__all__ = [
    "IdempotencyConflict",
    "IdempotencyKey",
    "JobDetails",
    "JobFilter",
    "JobStore",
    "LogEvent",
    "LogStreamSummary",
    "MetricPoint",
]
