"""Versioned schema migrations.

A fresh database gets the current schema (``schema.metadata``) in one step and is stamped
with the latest version. An existing database at version ``v`` runs every migration after
``v`` in order. To change the schema: edit ``schema.py`` and append a migration that
brings a database at the previous version to the new one. Migrating runs under a lock
(PostgreSQL advisory lock; SQLite's write lock), so a server and a separate scheduler
starting together do not race.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from hybridjobs.store import schema


@dataclass(frozen=True)
class Migration:
    """Brings a database from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[sa.Connection], None]


_VERSION_1_TABLES = ("jobs", "job_events", "job_tags", "idempotency", "log_events", "metrics")


def _initial(connection: sa.Connection) -> None:
    tables = [schema.metadata.tables[name] for name in _VERSION_1_TABLES]
    schema.metadata.create_all(connection, tables=tables)


def _quantum_tasks(connection: sa.Connection) -> None:
    """Job tokens and the task tables. Idempotent: version 1's migration builds the jobs
    table from today's schema, so a database made by it may already hold the column."""
    inspector = sa.inspect(connection)
    if "job_token" not in {column["name"] for column in inspector.get_columns("jobs")}:
        connection.execute(sa.text("ALTER TABLE jobs ADD COLUMN job_token VARCHAR(64)"))
    if "ix_jobs_job_token" not in {index["name"] for index in inspector.get_indexes("jobs")}:
        (token_index,) = (i for i in schema.jobs.indexes if i.name == "ix_jobs_job_token")
        token_index.create(connection)
    schema.quantum_tasks.create(connection, checkfirst=True)
    schema.task_idempotency.create(connection, checkfirst=True)


def _claim_epochs(connection: sa.Connection) -> None:
    """The epoch of each job's claim (fencing a scheduler that lost the job)."""
    inspector = sa.inspect(connection)
    if "claim_epoch" not in {column["name"] for column in inspector.get_columns("jobs")}:
        connection.execute(
            sa.text("ALTER TABLE jobs ADD COLUMN claim_epoch INTEGER NOT NULL DEFAULT 0")
        )


def _log_cursors(connection: sa.Connection) -> None:
    """The count of lines each job instance's agent has had accepted through PutLogEvents.
    Idempotent (a table already there is left as it is)."""
    schema.log_cursors.create(connection, checkfirst=True)


def _scheduler_leases(connection: sa.Connection) -> None:
    """The lease that makes one scheduler process the active one."""
    schema.scheduler_leases.create(connection, checkfirst=True)


def _s3_records(connection: sa.Connection) -> None:
    """The S3 surface's bucket and object records, which older versions kept as files
    under the data directory (those files are not imported). Idempotent."""
    schema.s3_buckets.create(connection, checkfirst=True)
    schema.s3_objects.create(connection, checkfirst=True)


def _log_file_offsets(connection: sa.Connection) -> None:
    """How far into each local instance's log file the lines are stored, written with
    them (a restart resumes there: no line twice)."""
    schema.log_file_offsets.create(connection, checkfirst=True)


def _usage(connection: sa.Connection) -> None:
    """Usage records of finished jobs and tasks, and spending limits. Idempotent (tables
    already there are left as they are). Jobs and tasks that finished before are not
    back-filled: accounting starts with the upgrade."""
    schema.usage_records.create(connection, checkfirst=True)
    schema.spending_limits.create(connection, checkfirst=True)


def _accounts(connection: sa.Connection) -> None:
    """The account owning each S3 bucket, and the service's own secrets (the key job
    credentials are derived from). Idempotent."""
    inspector = sa.inspect(connection)
    if "account_id" not in {column["name"] for column in inspector.get_columns("s3_buckets")}:
        connection.execute(sa.text("ALTER TABLE s3_buckets ADD COLUMN account_id VARCHAR(12)"))
    schema.service_secrets.create(connection, checkfirst=True)


_SORT_INDEXES = ("ix_jobs_account_name_seq", "ix_jobs_account_status_seq")


def _job_sort_indexes(connection: sa.Connection) -> None:
    """Indexes of sorted job searches (account, name or status, seq). Idempotent:
    indexes already there (a database made from today's schema) are left alone."""
    present = {index["name"] for index in sa.inspect(connection).get_indexes("jobs")}
    for index in schema.jobs.indexes:
        if index.name in _SORT_INDEXES and index.name not in present:
            index.create(connection)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "jobs, events, tags, idempotency, log events, metrics", _initial),
    Migration(2, "job tokens, quantum tasks and their idempotency records", _quantum_tasks),
    Migration(3, "claim epochs of jobs", _claim_epochs),
    Migration(4, "log cursors: lines of job instances accepted through PutLogEvents", _log_cursors),
    Migration(5, "scheduler leases: one active scheduler", _scheduler_leases),
    Migration(6, "S3 surface records: buckets, object attributes and tags", _s3_records),
    Migration(7, "log file offsets, stored with the lines they follow", _log_file_offsets),
    Migration(8, "accounts: bucket owners, service secrets (job credentials)", _accounts),
    Migration(9, "usage records of finished jobs and tasks; spending limits", _usage),
    Migration(10, "indexes of job lists sorted by name or status", _job_sort_indexes),
)
LATEST_VERSION = MIGRATIONS[-1].version
_ADVISORY_LOCK_ID = 0x4A0B5


def current_version(connection: sa.Connection) -> int:
    """The schema version recorded in the database (0 for an empty database)."""
    if not sa.inspect(connection).has_table("schema_version"):
        return 0
    version = connection.execute(sa.select(sa.func.max(schema.schema_version.c.version)))
    return int(version.scalar() or 0)


def migrate(engine: sa.Engine) -> int:
    """Bring the database to the latest version; returns the version it was at before."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})"))
        before = current_version(connection)
        if before > LATEST_VERSION:
            raise RuntimeError(
                f"The database schema is version {before}, newer than this hybridjobs "
                f"({LATEST_VERSION}); upgrade hybridjobs."
            )
        if before == 0:
            schema.metadata.create_all(connection)
        else:
            for migration in MIGRATIONS:
                if migration.version > before:
                    migration.apply(connection)
        if before != LATEST_VERSION:
            connection.execute(schema.schema_version.delete())
            connection.execute(schema.schema_version.insert().values(version=LATEST_VERSION))
        return before
