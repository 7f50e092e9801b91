"""What jobs print: log lines and the metrics parsed from them, in SQL.

Lines reach the store two ways: the scheduler ships what the instances it runs print
(:meth:`SqlOutputRecords.add_log_events`, under its claim), and an instance agent ships
its instance's output through PutLogEvents, appended exactly once against the count of
lines accepted so far (:meth:`SqlOutputRecords.append_instance_lines`, ``log_cursors``).
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hybridjobs.store import schema
from hybridjobs.store.base import (
    AppendOutcome,
    Claim,
    InstanceLine,
    LogEvent,
    LogStreamSummary,
    MetricPoint,
    UnknownJob,
    plan_append,
)
from hybridjobs.store.fencing import hold_claim
from hybridjobs.store.sqlengine import SqlConnections, moment, never

# The text "NaN" keeps its type in SQLite's REAL column (it is no numeric literal).
_INSERT_NAN_AS_TEXT = schema.metrics.insert().values(value=sa.bindparam("value", type_=sa.Text()))

_CURSOR_OF = (
    schema.log_cursors.c.job_arn == sa.bindparam("arn"),
    schema.log_cursors.c.instance == sa.bindparam("host"),
)
_SELECT_CURSOR = sa.select(schema.log_cursors.c.accepted_lines).where(*_CURSOR_OF)
_UPDATE_CURSOR = (
    schema.log_cursors.update().where(*_CURSOR_OF).values(accepted_lines=sa.bindparam("accepted"))
)
_JOB_EXISTS = sa.select(schema.jobs.c.seq).where(schema.jobs.c.job_arn == sa.bindparam("arn"))


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _storable(message: str, dialect: str) -> str:
    """``message`` as the database can hold it: PostgreSQL text cannot hold NUL, which a
    job may well print, so there it becomes U+FFFD."""
    return message.replace("\x00", "\ufffd") if dialect == "postgresql" else message


def _insert_log_events(connection: sa.Connection, job_arn: str, events: Sequence[LogEvent]) -> None:
    """Insert ``events`` in order (their sequences follow that order)."""
    dialect = connection.dialect.name
    connection.execute(
        schema.log_events.insert(),
        [
            {
                "job_arn": job_arn,
                "instance": e.instance,
                "timestamp": e.timestamp.timestamp(),
                "message": _storable(e.message, dialect),
            }
            for e in events
        ],
    )


def _set_file_offset(connection: sa.Connection, job_arn: str, instance: str, offset: int) -> None:
    """Record ``offset`` as how far ``instance``'s log file is stored (upsert)."""
    offsets = schema.log_file_offsets
    updated = connection.execute(
        offsets.update()
        .where(offsets.c.job_arn == job_arn, offsets.c.instance == instance)
        .values(shipped_bytes=offset)
    )
    if updated.rowcount == 0:
        connection.execute(
            offsets.insert().values(job_arn=job_arn, instance=instance, shipped_bytes=offset)
        )


def _insert_metrics(connection: sa.Connection, job_arn: str, points: Sequence[MetricPoint]) -> None:
    """Insert ``points`` in order. NaN and ±inf are kept: SQLite turns a NaN parameter into
    NULL, so there NaN rows are written as the text ``NaN`` (which ``list_metrics`` reads
    back as a float); PostgreSQL stores all three natively."""
    rows = [
        {
            "job_arn": job_arn,
            "instance": p.instance,
            "timestamp": p.timestamp,
            "name": p.name,
            "value": p.value,
            "iteration_number": p.iteration_number,
        }
        for p in points
    ]
    as_text = connection.dialect.name == "sqlite"
    # Consecutive runs of plain and NaN rows, so ids keep the order of ``points``.
    for nan, run in itertools.groupby(rows, key=lambda row: _is_nan(row["value"])):
        batch = list(run)
        if nan and as_text:
            for row in batch:
                row["value"] = "NaN"
            connection.execute(_INSERT_NAN_AS_TEXT, batch)
        else:
            connection.execute(schema.metrics.insert(), batch)


def _lock_cursor(connection: sa.Connection, job_arn: str, instance: str) -> int:
    """The lines of (job, instance) accepted so far, its cursor row created (at 0) when
    missing and locked to the end of the caller's write transaction, so appends to one
    stream run one after the other. UnknownJob when there is no such job.

    On PostgreSQL, ``INSERT .. ON CONFLICT DO NOTHING`` waits for a concurrent
    transaction that inserted the same row, and ``SELECT .. FOR UPDATE`` for one that
    holds it, then reads its committed count. SQLite's single write lock, taken at BEGIN
    IMMEDIATE, already orders the appends.
    """
    if connection.execute(_JOB_EXISTS, {"arn": job_arn}).first() is None:
        raise UnknownJob(job_arn)
    dialect = connection.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(schema.log_cursors)
    connection.execute(
        insert.values(job_arn=job_arn, instance=instance, accepted_lines=0).on_conflict_do_nothing()
    )
    query = _SELECT_CURSOR.with_for_update() if dialect == "postgresql" else _SELECT_CURSOR
    return int(connection.execute(query, {"arn": job_arn, "host": instance}).scalar_one())


class SqlOutputRecords(SqlConnections):
    """The log-event and metric part of :class:`~hybridjobs.store.sql.SqlJobStore`."""

    def add_log_events(
        self, job_arn: str, events: Sequence[LogEvent], *, claim: Claim | None = None
    ) -> None:
        if not events:
            return
        with self._write() as connection:
            if claim is not None:
                hold_claim(connection, job_arn, claim)
            _insert_log_events(connection, job_arn, events)

    def list_log_events(
        self,
        job_arn: str,
        instance: str,
        after_sequence: int = 0,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
        limit: int = 10000,
        *,
        before_sequence: int | None = None,
        newest_first: bool = False,
        contains: str | None = None,
    ) -> list[LogEvent]:
        logs = schema.log_events
        conditions = [logs.c.job_arn == job_arn, logs.c.instance == instance]
        conditions.append(logs.c.id > after_sequence)
        if before_sequence is not None:
            conditions.append(logs.c.id < before_sequence)
        if start_time is not None:
            conditions.append(logs.c.timestamp >= start_time.timestamp())
        if end_time is not None:
            conditions.append(logs.c.timestamp < end_time.timestamp())
        if contains:
            conditions.append(logs.c.message.contains(contains, autoescape=True))
        order = logs.c.id.desc() if newest_first else logs.c.id
        query = sa.select(logs).where(*conditions).order_by(order).limit(limit)
        with self._read() as connection:
            return [
                LogEvent(row.instance, moment(row.timestamp) or never(), row.message, row.id)
                for row in connection.execute(query)
            ]

    def summarize_log_events(self, job_arn: str) -> dict[str, LogStreamSummary]:
        logs = schema.log_events
        query = (
            sa.select(
                logs.c.instance,
                sa.func.count(),
                sa.func.min(logs.c.timestamp),
                sa.func.max(logs.c.timestamp),
                sa.func.max(logs.c.id),
            )
            .where(logs.c.job_arn == job_arn)
            .group_by(logs.c.instance)
        )
        with self._read() as connection:
            rows = list(connection.execute(query))
        return {
            instance: LogStreamSummary(
                instance=instance,
                event_count=int(count),
                first_timestamp=moment(first) or never(),
                last_timestamp=moment(last) or never(),
                last_sequence=int(last_id),
            )
            for instance, count, first, last, last_id in rows
        }

    def ship_log_file(
        self,
        job_arn: str,
        instance: str,
        events: Sequence[LogEvent],
        points: Sequence[MetricPoint],
        shipped_bytes: int,
        *,
        claim: Claim | None = None,
    ) -> None:
        with self._write() as connection:
            if claim is not None:
                hold_claim(connection, job_arn, claim)
            if events:
                _insert_log_events(connection, job_arn, events)
            if points:
                _insert_metrics(connection, job_arn, points)
            _set_file_offset(connection, job_arn, instance, shipped_bytes)

    def log_file_offsets(self, job_arn: str) -> dict[str, int]:
        offsets = schema.log_file_offsets
        query = sa.select(offsets.c.instance, offsets.c.shipped_bytes).where(
            offsets.c.job_arn == job_arn
        )
        with self._read() as connection:
            return {row.instance: int(row.shipped_bytes) for row in connection.execute(query)}

    def add_metrics(
        self, job_arn: str, points: Sequence[MetricPoint], *, claim: Claim | None = None
    ) -> None:
        """Store ``points`` in order (NaN and ±inf kept, see :func:`_insert_metrics`)."""
        if not points:
            return
        with self._write() as connection:
            if claim is not None:
                hold_claim(connection, job_arn, claim)
            _insert_metrics(connection, job_arn, points)

    def list_metrics(self, job_arn: str) -> list[MetricPoint]:
        metrics = schema.metrics
        query = sa.select(metrics).where(metrics.c.job_arn == job_arn).order_by(metrics.c.id)
        with self._read() as connection:
            return [
                MetricPoint(
                    row.instance, row.timestamp, row.name, float(row.value), row.iteration_number
                )
                for row in connection.execute(query)
            ]

    def append_instance_lines(
        self, job_arn: str, instance: str, first_line: int, lines: Sequence[InstanceLine]
    ) -> AppendOutcome:
        """See :meth:`~hybridjobs.store.base.JobStore.append_instance_lines`."""
        with self._write() as connection:
            accepted = _lock_cursor(connection, job_arn, instance)
            outcome = plan_append(accepted, first_line, len(lines))
            if outcome.stored:
                kept = lines[len(lines) - outcome.stored :]
                events = [LogEvent(instance, line.timestamp, line.message) for line in kept]
                _insert_log_events(connection, job_arn, events)
                points = [point for line in kept for point in line.metrics]
                if points:
                    _insert_metrics(connection, job_arn, points)
                connection.execute(
                    _UPDATE_CURSOR,
                    {"arn": job_arn, "host": instance, "accepted": outcome.accepted_lines},
                )
        return outcome

    def accepted_instance_lines(self, job_arn: str, instance: str) -> int:
        with self._read() as connection:
            count = connection.execute(_SELECT_CURSOR, {"arn": job_arn, "host": instance}).scalar()
        return int(count or 0)
