"""What jobs print: log lines and the metrics parsed from them, in SQL."""

from __future__ import annotations

import datetime
import itertools
import math
from collections.abc import Sequence

import sqlalchemy as sa

from hybridjobs.store import schema
from hybridjobs.store.base import Claim, LogEvent, LogStreamSummary, MetricPoint
from hybridjobs.store.fencing import hold_claim
from hybridjobs.store.sqlengine import SqlConnections, moment, never

# The text "NaN" keeps its type in SQLite's REAL column (it is no numeric literal).
_INSERT_NAN_AS_TEXT = schema.metrics.insert().values(value=sa.bindparam("value", type_=sa.Text()))


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


class SqlOutputRecords(SqlConnections):
    """The log-event and metric part of :class:`~hybridjobs.store.sql.SqlJobStore`."""

    def add_log_events(
        self, job_arn: str, events: Sequence[LogEvent], *, claim: Claim | None = None
    ) -> None:
        if not events:
            return
        # PostgreSQL text cannot hold NUL, which a job may well print.
        nul = "\ufffd" if self.dialect == "postgresql" else "\x00"
        with self._write() as connection:
            if claim is not None:
                hold_claim(connection, job_arn, claim)
            connection.execute(
                schema.log_events.insert(),
                [
                    {
                        "job_arn": job_arn,
                        "instance": e.instance,
                        "timestamp": e.timestamp.timestamp(),
                        "message": e.message.replace("\x00", nul),
                    }
                    for e in events
                ],
            )

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

    def add_metrics(
        self, job_arn: str, points: Sequence[MetricPoint], *, claim: Claim | None = None
    ) -> None:
        """Store ``points`` in order. NaN and ±inf are kept: SQLite turns a NaN parameter
        into NULL, so there NaN rows are written as the text ``NaN`` (which ``list_metrics``
        reads back as a float); PostgreSQL stores all three natively."""
        if not points:
            return
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
        as_text = self.dialect == "sqlite"
        with self._write() as connection:
            if claim is not None:
                hold_claim(connection, job_arn, claim)
            # Consecutive runs of plain and NaN rows, so ids keep the order of ``points``.
            for nan, run in itertools.groupby(rows, key=lambda row: _is_nan(row["value"])):
                batch = list(run)
                if nan and as_text:
                    for row in batch:
                        row["value"] = "NaN"
                    connection.execute(_INSERT_NAN_AS_TEXT, batch)
                else:
                    connection.execute(schema.metrics.insert(), batch)

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
