"""The service's Prometheus metrics, kept in one registry of this process.

Counters and histograms that code updates as things happen live here as module objects
(requests, database statements, object-store calls); what is read from the service's
state when scraped (jobs by status, the queue, running instances, the warm pool) is a
collector of the service (:mod:`hybridjobs.observability.collector`). Label values are
bounded: operations are names from the botocore models (else ``unknown``), statement
kinds are SQL verbs, object-store calls are method names.
"""

from __future__ import annotations

import functools
import time
import weakref
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
"""Every metric of this process (one service per process in production)."""
ProcessCollector(registry=REGISTRY)

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "hybridjobs_requests",
    "API requests answered, by AWS service, operation and HTTP status.",
    ("service", "operation", "status"),
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "hybridjobs_request_seconds",
    "Time from a request's head to its answer, by AWS service and operation.",
    ("service", "operation"),
    buckets=_REQUEST_BUCKETS,
    registry=REGISTRY,
)
DB_SECONDS = Histogram(
    "hybridjobs_db_statement_seconds",
    "Time the database took per statement, by statement kind.",
    ("statement",),
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
OBJECT_SECONDS = Histogram(
    "hybridjobs_object_store_seconds",
    "Time the object store took per call, by call.",
    ("call",),
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
JOBS_ENDED = Counter(
    "hybridjobs_jobs_ended",
    "Jobs this process's scheduler ended, by final status.",
    ("status",),
    registry=REGISTRY,
)

RETENTION_REMOVED = Counter(
    "hybridjobs_retention_removed",
    "What the retention sweeper removed: job directories, log lines, multipart uploads.",
    ("kind",),
    registry=REGISTRY,
)
RETENTION_REMOVED_BYTES = Counter(
    "hybridjobs_retention_removed_bytes",
    "Bytes of files and objects the retention sweeper removed.",
    ("kind",),
    registry=REGISTRY,
)

_STATEMENTS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "PRAGMA"})
_INSTRUMENTED: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def observe_request(service: str, operation: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    _request_children(service, operation, status)[0].inc()
    _request_children(service, operation, status)[1].observe(seconds)


@functools.lru_cache(maxsize=4096)
def _request_children(service: str, operation: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram children of one label set (looked up once: the labels
    are bounded, and ``labels()`` takes a lock and builds a key on every call)."""
    return (
        REQUESTS.labels(service, operation, str(status)),
        REQUEST_SECONDS.labels(service, operation),
    )


@functools.lru_cache(maxsize=1024)
def statement_kind(statement: str) -> str:
    """The SQL verb of ``statement`` (``OTHER`` for anything unexpected)."""
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return verb if verb in _STATEMENTS else "OTHER"


@functools.lru_cache(maxsize=1024)
def _statement_histogram(statement: str) -> Any:
    return DB_SECONDS.labels(statement_kind(statement))


def instrument_engine(engine: sa.Engine) -> None:
    """Time every statement ``engine`` executes into :data:`DB_SECONDS` (idempotent)."""
    if engine in _INSTRUMENTED:
        return
    _INSTRUMENTED.add(engine)

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any
    ) -> None:
        if context is not None:
            context.hybridjobs_started = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any) -> None:
        started = getattr(context, "hybridjobs_started", None)
        if started is not None:
            _statement_histogram(statement).observe(time.perf_counter() - started)

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
