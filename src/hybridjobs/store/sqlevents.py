"""A job's events and tags in SQL: the event and tag part of
:class:`~hybridjobs.store.sql.SqlJobStore`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from hybridjobs.jobs.model import JobEvent, JobEventType
from hybridjobs.store import schema
from hybridjobs.store.base import Claim
from hybridjobs.store.fencing import hold_claim
from hybridjobs.store.sqlengine import SqlConnections, moment, never

_SELECT_EVENTS = (
    sa.select(schema.job_events)
    .where(schema.job_events.c.job_arn == sa.bindparam("arn"))
    .order_by(schema.job_events.c.id.desc())
)
SELECT_LATEST_EVENTS = _SELECT_EVENTS.limit(sa.bindparam("limit"))
"""A job's latest events, newest first (bind ``arn`` and ``limit``)."""
SELECT_TAGS = (
    sa.select(schema.job_tags.c.key, schema.job_tags.c.value)
    .where(schema.job_tags.c.job_arn == sa.bindparam("arn"))
    .order_by(schema.job_tags.c.key)
)
"""A job's tags in key order (bind ``arn``)."""
_INSERT_EVENT = schema.job_events.insert()


class SqlJobEvents(SqlConnections):
    """Events (append-only, read oldest first) and tags (a key -> value map) of jobs."""

    @staticmethod
    def _insert_event(connection: sa.Connection, job_arn: str, event: JobEvent) -> None:
        """Append ``event`` to the job's events, in the caller's write transaction."""
        connection.execute(
            _INSERT_EVENT,
            {
                "job_arn": job_arn,
                "event_type": event.event_type.value,
                "time": event.time.timestamp(),
                "message": event.message,
            },
        )

    def add_event(self, job_arn: str, event: JobEvent, *, claim: Claim | None = None) -> None:
        with self._write() as connection:
            if claim is not None:
                hold_claim(connection, job_arn, claim)
            self._insert_event(connection, job_arn, event)

    def list_events(self, job_arn: str, limit: int | None = None) -> list[JobEvent]:
        with self._read() as connection:
            if limit is None:
                rows = list(connection.execute(_SELECT_EVENTS, {"arn": job_arn}))
            else:
                rows = list(
                    connection.execute(SELECT_LATEST_EVENTS, {"arn": job_arn, "limit": limit})
                )
        rows.reverse()
        return [event_from_row(row) for row in rows]

    # -- tags -----------------------------------------------------------------------------

    def get_tags(self, job_arn: str) -> dict[str, str]:
        with self._read() as connection:
            rows = connection.execute(SELECT_TAGS, {"arn": job_arn})
            return {row.key: row.value for row in rows}

    def get_tags_for(self, job_arns: Sequence[str]) -> dict[str, dict[str, str]]:
        tags = schema.job_tags
        found: dict[str, dict[str, str]] = {arn: {} for arn in job_arns}
        if not job_arns:
            return found
        query = (
            sa.select(tags.c.job_arn, tags.c.key, tags.c.value)
            .where(tags.c.job_arn.in_(list(job_arns)))
            .order_by(tags.c.job_arn, tags.c.key)
        )
        with self._read() as connection:
            for row in connection.execute(query):
                found[row.job_arn][row.key] = row.value
        return found

    def tag(self, job_arn: str, new_tags: dict[str, str]) -> None:
        tags = schema.job_tags
        with self._write() as connection:
            connection.execute(
                tags.delete().where(tags.c.job_arn == job_arn, tags.c.key.in_(list(new_tags)))
            )
            if new_tags:
                connection.execute(
                    tags.insert(),
                    [{"job_arn": job_arn, "key": k, "value": v} for k, v in new_tags.items()],
                )

    def untag(self, job_arn: str, keys: Iterable[str]) -> None:
        tags = schema.job_tags
        with self._write() as connection:
            connection.execute(
                tags.delete().where(tags.c.job_arn == job_arn, tags.c.key.in_(list(keys)))
            )


def event_from_row(row: sa.Row[Any]) -> JobEvent:
    """The :class:`JobEvent` a ``job_events`` row holds."""
    return JobEvent(JobEventType(row.event_type), moment(row.time) or never(), row.message)
