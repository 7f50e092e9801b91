"""Usage records and spending limits in SQL: the usage half of
:class:`~hybridjobs.store.sql.SqlJobStore`.

:func:`record_job_usage` and :func:`record_task_usage` run inside the write transaction
that moves a job or task to its terminal status (``store/sql.py``, ``store/sqltasks.py``):
the record commits with the status or not at all, and its unique ``record_key`` means a
second write for the same resource is a no-op. So a crash and restart neither loses nor
doubles a record.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from hybridjobs.store import schema
from hybridjobs.store.sqlengine import SqlConnections, moment

_USAGE = schema.usage_records
_LIMITS = schema.spending_limits


@dataclass(frozen=True)
class UsageRow:
    """One stored usage record (see ``schema.usage_records``)."""

    account_id: str
    kind: str
    resource_arn: str
    job_arn: str | None
    resource_type: str
    status: str
    instance_count: int
    duration_ms: int
    shots: int
    started_at: datetime.datetime | None
    ended_at: datetime.datetime


@dataclass(frozen=True)
class SpendingLimitRow:
    """One stored spending limit; ``amount`` is the USD string as given."""

    spending_limit_arn: str
    account_id: str
    device_arn: str
    amount: str
    start_at: float
    end_at: float
    tags: dict[str, str]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class TaskSpendRow:
    """A task that counts against a spending limit: its status and shots."""

    status: str
    shots: int


def _insert_if_absent(connection: sa.Connection, values: dict[str, Any]) -> None:
    """Insert a usage record unless one with its key exists (same transaction)."""
    if connection.dialect.name == "postgresql":
        pg = postgresql.insert(_USAGE).values(**values).on_conflict_do_nothing()
        connection.execute(pg)
    elif connection.dialect.name == "sqlite":
        lite = sqlite.insert(_USAGE).values(**values).on_conflict_do_nothing()
        connection.execute(lite)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        exists = connection.execute(
            sa.select(_USAGE.c.id).where(_USAGE.c.record_key == values["record_key"])
        ).first()
        if exists is None:
            connection.execute(_USAGE.insert().values(**values))


def record_job_usage(connection: sa.Connection, row: sa.Row[Any]) -> None:
    """The usage record of a job row that has just reached its terminal status:
    ``duration_ms`` is its ``billable_duration_ms`` (0 when it never ran)."""
    ended = row.ended_at if row.ended_at is not None else row.created_at
    _insert_if_absent(
        connection,
        {
            "record_key": f"job:{row.job_arn}",
            "account_id": row.account_id,
            "kind": "job",
            "resource_arn": row.job_arn,
            "job_arn": row.job_arn,
            "resource_type": row.instance_type,
            "status": row.status,
            "instance_count": row.instance_count,
            "duration_ms": int(row.billable_duration_ms or 0),
            "shots": 0,
            "started_at": row.started_at,
            "ended_at": ended,
        },
    )


def record_task_usage(connection: sa.Connection, row: sa.Row[Any]) -> None:
    """The usage record of a quantum-task row that has just reached its terminal status:
    its shots and the time it ran (``ended_at - started_at``, 0 when it never ran)."""
    ended = row.ended_at if row.ended_at is not None else row.created_at
    ran = 0 if row.started_at is None else max(0, round((ended - row.started_at) * 1000))
    _insert_if_absent(
        connection,
        {
            "record_key": f"task:{row.task_arn}",
            "account_id": row.account_id,
            "kind": "task",
            "resource_arn": row.task_arn,
            "job_arn": row.job_arn,
            "resource_type": row.device_arn,
            "status": row.status,
            "instance_count": 1,
            "duration_ms": ran,
            "shots": int(row.shots),
            "started_at": row.started_at,
            "ended_at": ended,
        },
    )


def _usage_from_row(row: sa.Row[Any]) -> UsageRow:
    ended = moment(row.ended_at)
    assert ended is not None
    return UsageRow(
        account_id=row.account_id,
        kind=row.kind,
        resource_arn=row.resource_arn,
        job_arn=row.job_arn,
        resource_type=row.resource_type,
        status=row.status,
        instance_count=int(row.instance_count),
        duration_ms=int(row.duration_ms),
        shots=int(row.shots),
        started_at=moment(row.started_at),
        ended_at=ended,
    )


def _limit_from_row(row: sa.Row[Any]) -> SpendingLimitRow:
    return SpendingLimitRow(
        spending_limit_arn=row.spending_limit_arn,
        account_id=row.account_id,
        device_arn=row.device_arn,
        amount=row.amount,
        start_at=float(row.start_at),
        end_at=float(row.end_at),
        tags=dict(row.tags or {}),
        created_at=float(row.created_at),
        updated_at=float(row.updated_at),
    )


class SpendingLimitTokenConflict(Exception):
    """A CreateSpendingLimit client token was used before with a different request."""

    def __init__(self, spending_limit_arn: str) -> None:
        super().__init__(spending_limit_arn)
        self.spending_limit_arn = spending_limit_arn


class SqlUsageRecords(SqlConnections):
    """Usage records (read) and spending limits (read and write) over SQLite or
    PostgreSQL."""

    # -- usage ----------------------------------------------------------------------------

    def usage_records(
        self,
        account_id: str | None = None,
        since: datetime.datetime | None = None,
        kind: str | None = None,
        resource_arns: Sequence[str] | None = None,
    ) -> list[UsageRow]:
        """Usage records, oldest first: of one account (all when ``None``), ended at or
        after ``since``, of one ``kind`` (``"job"`` or ``"task"``), of some resources."""
        conditions: list[sa.ColumnElement[bool]] = []
        if account_id is not None:
            conditions.append(_USAGE.c.account_id == account_id)
        if since is not None:
            conditions.append(_USAGE.c.ended_at >= since.timestamp())
        if kind is not None:
            conditions.append(_USAGE.c.kind == kind)
        if resource_arns is not None:
            if not resource_arns:
                return []
            conditions.append(_USAGE.c.resource_arn.in_(list(resource_arns)))
        query = sa.select(_USAGE).where(*conditions).order_by(_USAGE.c.id)
        with self._read() as connection:
            return [_usage_from_row(row) for row in connection.execute(query)]

    def job_usage_records(self, job_arn: str) -> list[UsageRow]:
        """The usage records of one job: its own (once it ended) and its finished quantum
        tasks' (found through the tasks' job index and the records' unique keys)."""
        tasks = schema.quantum_tasks
        task_keys = sa.select(sa.literal("task:") + tasks.c.task_arn).where(
            tasks.c.job_arn == job_arn
        )
        query = (
            sa.select(_USAGE)
            .where(
                sa.or_(_USAGE.c.record_key == f"job:{job_arn}", _USAGE.c.record_key.in_(task_keys))
            )
            .order_by(_USAGE.c.id)
        )
        with self._read() as connection:
            return [_usage_from_row(row) for row in connection.execute(query)]

    def task_spend_rows(
        self, account_id: str, device_arn: str, start_at: float, end_at: float
    ) -> list[TaskSpendRow]:
        """Every task of the account on the device created in ``[start_at, end_at)``
        (what a spending limit counts)."""
        tasks = schema.quantum_tasks
        query = sa.select(tasks.c.status, tasks.c.shots).where(
            tasks.c.account_id == account_id,
            tasks.c.device_arn == device_arn,
            tasks.c.created_at >= start_at,
            tasks.c.created_at < end_at,
        )
        with self._read() as connection:
            return [TaskSpendRow(row.status, int(row.shots)) for row in connection.execute(query)]

    # -- spending limits ------------------------------------------------------------------

    def create_spending_limit(
        self, limit: SpendingLimitRow, client_token: str, request_hash: str
    ) -> tuple[SpendingLimitRow, bool]:
        """Store ``limit``; or, when the account used ``client_token`` before with the same
        request, the limit that request made (``False``). A different request with the
        token raises :class:`SpendingLimitTokenConflict`."""
        values = {
            "spending_limit_arn": limit.spending_limit_arn,
            "account_id": limit.account_id,
            "device_arn": limit.device_arn,
            "amount": limit.amount,
            "start_at": limit.start_at,
            "end_at": limit.end_at,
            "tags": limit.tags,
            "client_token": client_token,
            "request_hash": request_hash,
            "created_at": limit.created_at,
            "updated_at": limit.updated_at,
        }
        try:
            with self._write() as connection:
                existing = self._limit_of_token(connection, limit.account_id, client_token)
                if existing is None:
                    connection.execute(_LIMITS.insert().values(**values))
                    return limit, True
        except IntegrityError:
            with self._read() as connection:
                existing = self._limit_of_token(connection, limit.account_id, client_token)
            if existing is None:
                raise
        found, stored_hash = existing
        if stored_hash != request_hash:
            raise SpendingLimitTokenConflict(found.spending_limit_arn)
        return found, False

    @staticmethod
    def _limit_of_token(
        connection: sa.Connection, account_id: str, client_token: str
    ) -> tuple[SpendingLimitRow, str] | None:
        row = connection.execute(
            sa.select(_LIMITS).where(
                _LIMITS.c.account_id == account_id, _LIMITS.c.client_token == client_token
            )
        ).first()
        return None if row is None else (_limit_from_row(row), row.request_hash)

    def get_spending_limit(self, spending_limit_arn: str) -> SpendingLimitRow | None:
        query = sa.select(_LIMITS).where(_LIMITS.c.spending_limit_arn == spending_limit_arn)
        with self._read() as connection:
            row = connection.execute(query).first()
        return None if row is None else _limit_from_row(row)

    def update_spending_limit(
        self,
        spending_limit_arn: str,
        *,
        amount: str | None,
        period: tuple[float, float] | None,
        updated_at: float,
    ) -> bool:
        """Change a limit's amount and/or period; ``False`` when it does not exist."""
        values: dict[str, Any] = {"updated_at": updated_at}
        if amount is not None:
            values["amount"] = amount
        if period is not None:
            values["start_at"], values["end_at"] = period
        with self._write() as connection:
            result = connection.execute(
                _LIMITS.update()
                .where(_LIMITS.c.spending_limit_arn == spending_limit_arn)
                .values(**values)
            )
        return bool(result.rowcount == 1)

    def delete_spending_limit(self, spending_limit_arn: str) -> bool:
        """Remove a limit; ``False`` when it did not exist."""
        with self._write() as connection:
            result = connection.execute(
                _LIMITS.delete().where(_LIMITS.c.spending_limit_arn == spending_limit_arn)
            )
        return bool(result.rowcount == 1)

    @contextmanager
    def holding_spending_limits(self, account_id: str, device_arn: str) -> Iterator[None]:
        """Hold the account's spending limits on the device until the block ends, across
        every process that shares the database, so that one CreateQuantumTask's limit
        check and its task's insert (committed inside the block) finish before another's
        check starts.

        PostgreSQL: a session-level advisory lock keyed by account and device, taken
        outside any transaction (so the session is never "idle in transaction" while the
        task is validated and stored) and released when the block ends, or by the
        database when the process dies. SQLite (one host): an exclusive ``flock`` on
        ``<database file>.limits.lock``; an in-memory database has one process and holds
        nothing.
        """
        if self.engine.dialect.name == "postgresql":
            digest = hashlib.sha256(f"spending-limit\0{account_id}\0{device_arn}".encode())
            key = int.from_bytes(digest.digest()[:8], "big", signed=True)
            with self.engine.connect() as pooled:
                connection = pooled.execution_options(isolation_level="AUTOCOMMIT")
                connection.execute(sa.select(sa.func.pg_advisory_lock(key)))
                try:
                    yield
                finally:
                    try:
                        connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    except sa.exc.DBAPIError:
                        pooled.invalidate()  # the session, and its lock, are gone
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.limits.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def spending_limits(
        self, account_id: str, device_arns: Sequence[str] | None = None
    ) -> list[SpendingLimitRow]:
        """The account's limits (on some devices), oldest first."""
        conditions = [_LIMITS.c.account_id == account_id]
        if device_arns is not None:
            conditions.append(_LIMITS.c.device_arn.in_(list(device_arns)))
        query = sa.select(_LIMITS).where(*conditions).order_by(_LIMITS.c.created_at)
        with self._read() as connection:
            return [_limit_from_row(row) for row in connection.execute(query)]
