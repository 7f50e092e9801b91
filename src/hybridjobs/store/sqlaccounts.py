"""What accounts need of the database: each account's load (for quotas) and the
service's own secrets (the key job credentials are derived from)."""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa

from hybridjobs.jobs.model import TERMINAL_STATUSES, UNFINISHED_STATUSES
from hybridjobs.store import schema
from hybridjobs.store.sqlengine import SqlConnections
from hybridjobs.tasks.model import TaskStatus

_ACTIVE_JOB_STATUSES = sorted(status.value for status in UNFINISHED_STATUSES)
_FINISHED_JOB_STATUSES = frozenset(status.value for status in TERMINAL_STATUSES)
_QUEUED_TASK_STATUSES = (TaskStatus.QUEUED.value,)
SECRET_BYTES = 32


class SqlAccounts(SqlConnections):
    """The accounts part of :class:`~hybridjobs.store.sql.SqlJobStore`."""

    def account_job_load(self, account_id: str) -> tuple[int, int]:
        """The account's jobs that are not finished (queued, running, cancelling) and
        their instances together."""
        jobs = schema.jobs
        query = sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(jobs.c.instance_count), 0)
        ).where(jobs.c.account_id == account_id, jobs.c.status.in_(_ACTIVE_JOB_STATUSES))
        with self._read() as connection:
            count, instances = connection.execute(query).one()
        return int(count), int(instances)

    def job_is_live(self, job_arn: str) -> bool:
        """Whether the job exists and is not finished (one indexed read of its status)."""
        jobs = schema.jobs
        query = sa.select(jobs.c.status).where(jobs.c.job_arn == job_arn)
        with self._read() as connection:
            status = connection.execute(query).scalar_one_or_none()
        return status is not None and status not in _FINISHED_JOB_STATUSES

    def account_queued_tasks(self, account_id: str) -> int:
        """The account's quantum tasks waiting for a worker."""
        tasks = schema.quantum_tasks
        query = sa.select(sa.func.count()).where(
            tasks.c.account_id == account_id, tasks.c.status.in_(_QUEUED_TASK_STATUSES)
        )
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())

    def service_secret(self, name: str) -> bytes:
        """The service's secret called ``name``: made (random, 32 bytes) the first time it
        is asked for, then the same for every process on this database, across restarts."""
        table = schema.service_secrets
        select = sa.select(table.c.secret).where(table.c.name == name)
        with self._read() as connection:
            found = connection.execute(select).scalar_one_or_none()
        if found is not None:
            return bytes(found)
        values = {
            "name": name,
            "secret": secrets.token_bytes(SECRET_BYTES),
            "created_at": time.time(),
        }
        with self._write() as connection:
            connection.execute(_insert_if_absent(connection, values))
            return bytes(connection.execute(select).scalar_one())


def _insert_if_absent(connection: sa.Connection, values: dict[str, object]) -> sa.Insert:
    """An INSERT that does nothing when another process made the secret first."""
    table = schema.service_secrets
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()
