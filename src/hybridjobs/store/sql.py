"""The SQL store (SQLAlchemy Core) of jobs, events, tags and idempotency records; SQLite
or PostgreSQL. Connections live in :mod:`sqlengine`, job output in :mod:`sqloutput`."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from hybridjobs.jobs.model import (
    UNFINISHED_STATUSES,
    Job,
    JobEvent,
    JobEventType,
    JobStatus,
    sources_of,
)
from hybridjobs.store import schema
from hybridjobs.store.base import (
    Claim,
    ClaimLost,
    IdempotencyConflict,
    IdempotencyKey,
    JobDetails,
    JobFilter,
)
from hybridjobs.store.fencing import hold_claim
from hybridjobs.store.filters import filter_condition
from hybridjobs.store.notify import notify_in
from hybridjobs.store.sqlengine import epoch, moment, never
from hybridjobs.store.sqlleases import SqlLeases
from hybridjobs.store.sqlobjectmeta import SqlObjectMeta
from hybridjobs.store.sqloutput import SqlOutputRecords
from hybridjobs.store.sqltasks import SqlTaskRecords

_TIME_FIELDS = ("created_at", "started_at", "ended_at", "heartbeat_at")
_UPDATABLE = frozenset(
    {
        "started_at",
        "ended_at",
        "failure_reason",
        "billable_duration_ms",
        "owner",
        "heartbeat_at",
        "runner_state",
    }
)
_FILTER_COLUMNS = {
    "job_arn": schema.jobs.c.job_arn,
    "job_name": schema.jobs.c.job_name,
    "device": schema.jobs.c.device,
    "status": schema.jobs.c.status,
    "created_at": schema.jobs.c.created_at,
}


# Statements on the API's hot paths, built once: SQLAlchemy memoizes a statement object's
# cache key, so reusing it skips rebuilding and re-keying the statement on every call.
_SELECT_JOB = sa.select(schema.jobs).where(schema.jobs.c.job_arn == sa.bindparam("arn"))
_SELECT_IDEMPOTENCY = sa.select(schema.idempotency).where(
    schema.idempotency.c.account_id == sa.bindparam("account"),
    schema.idempotency.c.client_token == sa.bindparam("token"),
)
_SELECT_EVENTS = (
    sa.select(schema.job_events)
    .where(schema.job_events.c.job_arn == sa.bindparam("arn"))
    .order_by(schema.job_events.c.id.desc())
)
_SELECT_LATEST_EVENTS = _SELECT_EVENTS.limit(sa.bindparam("limit"))
_SELECT_TAGS = (
    sa.select(schema.job_tags.c.key, schema.job_tags.c.value)
    .where(schema.job_tags.c.job_arn == sa.bindparam("arn"))
    .order_by(schema.job_tags.c.key)
)
_COUNT_QUEUED_BEFORE = (
    sa.select(sa.func.count())
    .select_from(schema.jobs)
    .where(
        schema.jobs.c.status == JobStatus.QUEUED.value,
        schema.jobs.c.seq < sa.bindparam("seq"),
    )
)
_SELECT_ACTIVE = (
    sa.select(schema.jobs)
    .where(schema.jobs.c.status.in_([JobStatus.RUNNING.value, JobStatus.CANCELLING.value]))
    .order_by(schema.jobs.c.seq)
)
_ADMISSION_LOCK = sa.text("SELECT pg_advisory_xact_lock(:id)")
_ADMISSION_LOCK_ID = 0x4A0B6
"""Serializes admissions on PostgreSQL (0x4A0B5 is the migrations' lock)."""
_TAKE_OVER_LOCK_TIMEOUT = sa.text("SET LOCAL lock_timeout = '1s'")
_LOCK_NOT_AVAILABLE = "55P03"
_INSERT_JOB = schema.jobs.insert()
_INSERT_IDEMPOTENCY = schema.idempotency.insert()
_INSERT_EVENT = schema.job_events.insert()


def _job_from_row(row: sa.Row[Any]) -> Job:
    created = moment(row.created_at)
    assert created is not None
    return Job(
        job_arn=row.job_arn,
        job_id=row.job_id,
        account_id=row.account_id,
        region=row.region,
        job_name=row.job_name,
        status=JobStatus(row.status),
        device=row.device,
        instance_type=row.instance_type,
        instance_count=row.instance_count,
        definition=dict(row.definition),
        created_at=created,
        started_at=moment(row.started_at),
        ended_at=moment(row.ended_at),
        failure_reason=row.failure_reason,
        billable_duration_ms=row.billable_duration_ms,
        owner=row.owner,
        heartbeat_at=moment(row.heartbeat_at),
        runner_state=dict(row.runner_state or {}),
        seq=row.seq,
        job_token=row.job_token,
        claim_epoch=row.claim_epoch,
    )


def _sources(to: JobStatus, expected: Iterable[JobStatus] | None) -> frozenset[JobStatus]:
    """The statuses a transition to ``to`` may start from: ``expected``, checked against
    the transition table (default: every status the table allows)."""
    allowed = sources_of(to)
    sources = frozenset(expected) if expected is not None else allowed
    if not sources <= allowed:
        bad = ", ".join(sorted(s.value for s in sources - allowed))
        raise ValueError(f"the transition table does not allow {bad} -> {to.value}")
    return sources


def _column_values(updates: dict[str, Any]) -> dict[str, Any]:
    unknown = set(updates) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update job fields {sorted(unknown)}")
    return {key: epoch(value) if key in _TIME_FIELDS else value for key, value in updates.items()}


class SqlJobStore(SqlOutputRecords, SqlTaskRecords, SqlLeases, SqlObjectMeta):
    """A :class:`~hybridjobs.store.base.JobStore`,
    :class:`~hybridjobs.store.taskbase.TaskStore` and
    :class:`~hybridjobs.store.objectmetabase.ObjectMetaStore` over SQLite or PostgreSQL."""

    # -- jobs -----------------------------------------------------------------------------

    def create_job(
        self,
        job: Job,
        event: JobEvent,
        tags: dict[str, str],
        idempotency: IdempotencyKey | None,
    ) -> tuple[Job, bool]:
        try:
            with self._write() as connection:
                if idempotency is not None:
                    existing = self._find_idempotent(connection, idempotency)
                    if existing is not None:
                        return existing, False
                    connection.execute(
                        _INSERT_IDEMPOTENCY,
                        {
                            "account_id": idempotency.account_id,
                            "client_token": idempotency.client_token,
                            "request_hash": idempotency.request_hash,
                            "job_arn": job.job_arn,
                            "created_at": epoch(job.created_at),
                        },
                    )
                result = connection.execute(
                    _INSERT_JOB,
                    {
                        "job_arn": job.job_arn,
                        "job_id": job.job_id,
                        "account_id": job.account_id,
                        "region": job.region,
                        "job_name": job.job_name,
                        "status": job.status.value,
                        "device": job.device,
                        "instance_type": job.instance_type,
                        "instance_count": job.instance_count,
                        "definition": job.definition,
                        "created_at": epoch(job.created_at),
                        "runner_state": job.runner_state,
                        "job_token": job.job_token,
                    },
                )
                self._insert_event(connection, job.job_arn, event)
                if tags:
                    connection.execute(
                        schema.job_tags.insert(),
                        [{"job_arn": job.job_arn, "key": k, "value": v} for k, v in tags.items()],
                    )
                notify_in(connection, "created", job.job_arn)
                seq = result.inserted_primary_key[0] if result.inserted_primary_key else 0
        except IntegrityError:
            if idempotency is None:
                raise
            # Another request with the same token committed first: answer as it did.
            with self._read() as connection:
                existing = self._find_idempotent(connection, idempotency)
            if existing is None:
                raise
            return existing, False
        job.seq = int(seq)
        return job, True

    def _find_idempotent(self, connection: sa.Connection, key: IdempotencyKey) -> Job | None:
        record = connection.execute(
            _SELECT_IDEMPOTENCY, {"account": key.account_id, "token": key.client_token}
        ).first()
        if record is None:
            return None
        if record.request_hash != key.request_hash:
            raise IdempotencyConflict(record.job_arn)
        row = connection.execute(_SELECT_JOB, {"arn": record.job_arn}).first()
        return None if row is None else _job_from_row(row)

    def get_job_details(
        self, job_arn: str, event_limit: int, with_queue_position: bool
    ) -> JobDetails | None:
        with self._read() as connection:
            row = connection.execute(_SELECT_JOB, {"arn": job_arn}).first()
            if row is None:
                return None
            job = _job_from_row(row)
            events = list(
                connection.execute(_SELECT_LATEST_EVENTS, {"arn": job_arn, "limit": event_limit})
            )
            tags = {t.key: t.value for t in connection.execute(_SELECT_TAGS, {"arn": job_arn})}
            position = None
            if with_queue_position and job.status is JobStatus.QUEUED:
                count = connection.execute(_COUNT_QUEUED_BEFORE, {"seq": job.seq}).scalar()
                position = int(count or 0)
        events.reverse()
        return JobDetails(job, [_event_from_row(e) for e in events], tags, position)

    def job_for_token(self, job_token: str) -> Job | None:
        jobs = schema.jobs
        with self._read() as connection:
            row = connection.execute(sa.select(jobs).where(jobs.c.job_token == job_token)).first()
        return None if row is None else _job_from_row(row)

    def get_job(self, job_arn: str) -> Job | None:
        with self._read() as connection:
            row = connection.execute(_SELECT_JOB, {"arn": job_arn}).first()
        return None if row is None else _job_from_row(row)

    def transition(
        self,
        job_arn: str,
        to: JobStatus,
        *,
        expected: Iterable[JobStatus] | None = None,
        event: JobEvent | None = None,
        updates: dict[str, Any] | None = None,
        claim: Claim | None = None,
    ) -> Job | None:
        sources = _sources(to, expected)
        values = _column_values(updates or {})
        with self._write() as connection:
            return self._transition_in(connection, job_arn, to, sources, event, values, claim)

    def claim_if_fits(
        self,
        job_arn: str,
        fits: Callable[[list[Job]], bool],
        *,
        event: JobEvent | None = None,
        updates: dict[str, Any] | None = None,
    ) -> Job | None:
        values = _column_values(updates or {})
        jobs = schema.jobs
        with self._write() as connection:
            # Admissions queue here, whatever process makes them: PostgreSQL on an advisory
            # lock held to the commit; SQLite's BEGIN IMMEDIATE already holds its one
            # write lock.
            if connection.dialect.name == "postgresql":
                connection.execute(_ADMISSION_LOCK, {"id": _ADMISSION_LOCK_ID})
            status = connection.execute(
                sa.select(jobs.c.status).where(jobs.c.job_arn == job_arn)
            ).scalar()
            if status != JobStatus.QUEUED.value:
                return None
            running = [_job_from_row(row) for row in connection.execute(_SELECT_ACTIVE).all()]
            if not fits(running):
                return None
            values["claim_epoch"] = jobs.c.claim_epoch + 1
            return self._transition_in(
                connection, job_arn, JobStatus.RUNNING, frozenset({JobStatus.QUEUED}), event, values
            )

    def _transition_in(
        self,
        connection: sa.Connection,
        job_arn: str,
        to: JobStatus,
        sources: frozenset[JobStatus],
        event: JobEvent | None,
        values: dict[str, Any],
        claim: Claim | None = None,
    ) -> Job | None:
        """The compare-and-set of :meth:`transition`, in the caller's write transaction."""
        jobs = schema.jobs
        conditions = [jobs.c.job_arn == job_arn, jobs.c.status.in_([s.value for s in sources])]
        if claim is not None:
            conditions += [jobs.c.owner == claim.owner, jobs.c.claim_epoch == claim.epoch]
        result = connection.execute(
            jobs.update()
            .where(*conditions)
            .values(status=to.value, version=jobs.c.version + 1, **values)
        )
        if result.rowcount != 1:
            if claim is not None:
                hold_claim(connection, job_arn, claim)  # raises ClaimLost when that is why
            return None
        if event is not None:
            self._insert_event(connection, job_arn, event)
        if to is JobStatus.CANCELLING:
            notify_in(connection, "cancel", job_arn)
        row = connection.execute(sa.select(jobs).where(jobs.c.job_arn == job_arn)).one()
        return _job_from_row(row)

    def update_job(self, job_arn: str, updates: dict[str, Any], *, claim: Claim | None) -> None:
        values = _column_values(updates)
        jobs = schema.jobs
        conditions = [jobs.c.job_arn == job_arn]
        if claim is not None:
            conditions += [jobs.c.owner == claim.owner, jobs.c.claim_epoch == claim.epoch]
        with self._write() as connection:
            result = connection.execute(jobs.update().where(*conditions).values(**values))
        if claim is not None and result.rowcount != 1:
            raise ClaimLost(job_arn, claim)

    def take_over(
        self, job_arn: str, previous: Claim, owner: str, now: datetime.datetime
    ) -> Claim | None:
        jobs = schema.jobs
        try:
            with self._write() as connection:
                if connection.dialect.name == "postgresql":
                    # A stalled holder's write (share-locking the row) must not stall the
                    # scheduler that takes over: give up now, try at the next pass.
                    connection.execute(_TAKE_OVER_LOCK_TIMEOUT)
                result = connection.execute(
                    jobs.update()
                    .where(
                        jobs.c.job_arn == job_arn,
                        jobs.c.owner == previous.owner,
                        jobs.c.claim_epoch == previous.epoch,
                        jobs.c.status.in_([s.value for s in UNFINISHED_STATUSES]),
                    )
                    .values(
                        owner=owner,
                        heartbeat_at=now.timestamp(),
                        claim_epoch=jobs.c.claim_epoch + 1,
                    )
                )
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            return None
        return Claim(owner, previous.epoch + 1) if result.rowcount == 1 else None

    def holds(self, job_arn: str, claim: Claim) -> bool:
        jobs = schema.jobs
        query = sa.select(jobs.c.owner, jobs.c.claim_epoch).where(jobs.c.job_arn == job_arn)
        with self._read() as connection:
            row = connection.execute(query).first()
        return row is not None and (row.owner, row.claim_epoch) == (claim.owner, claim.epoch)

    def heartbeat(self, owner: str, job_arns: Sequence[str], now: datetime.datetime) -> int:
        if not job_arns:
            return 0
        jobs = schema.jobs
        with self._write() as connection:
            result = connection.execute(
                jobs.update()
                .where(
                    jobs.c.owner == owner,
                    jobs.c.job_arn.in_(list(job_arns)),
                    jobs.c.status.in_([s.value for s in UNFINISHED_STATUSES]),
                )
                .values(heartbeat_at=now.timestamp())
            )
        return int(result.rowcount)

    def list_jobs(self, statuses: Iterable[JobStatus], limit: int | None = None) -> list[Job]:
        jobs = schema.jobs
        query = (
            sa.select(jobs)
            .where(jobs.c.status.in_([s.value for s in statuses]))
            .order_by(jobs.c.seq)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            return [_job_from_row(row) for row in connection.execute(query)]

    def queue_position(self, job: Job) -> int:
        with self._read() as connection:
            count = connection.execute(_COUNT_QUEUED_BEFORE, {"seq": job.seq}).scalar()
        return int(count or 0)

    def queued_jobs_by_device(self) -> dict[str, int]:
        jobs = schema.jobs
        query = (
            sa.select(jobs.c.device, sa.func.count())
            .where(jobs.c.status == JobStatus.QUEUED.value)
            .group_by(jobs.c.device)
        )
        with self._read() as connection:
            return {row[0]: int(row[1]) for row in connection.execute(query)}

    def search_jobs(
        self,
        account_id: str,
        filters: Sequence[JobFilter],
        limit: int,
        before_seq: int | None = None,
    ) -> list[Job]:
        jobs = schema.jobs
        conditions: list[sa.ColumnElement[bool]] = [jobs.c.account_id == account_id]
        if before_seq is not None:
            conditions.append(jobs.c.seq < before_seq)
        conditions.extend(filter_condition(_FILTER_COLUMNS, f) for f in filters)
        query = sa.select(jobs).where(*conditions).order_by(jobs.c.seq.desc()).limit(limit)
        with self._read() as connection:
            return [_job_from_row(row) for row in connection.execute(query)]

    # -- events ---------------------------------------------------------------------------

    @staticmethod
    def _insert_event(connection: sa.Connection, job_arn: str, event: JobEvent) -> None:
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
                    connection.execute(_SELECT_LATEST_EVENTS, {"arn": job_arn, "limit": limit})
                )
        rows.reverse()
        return [_event_from_row(row) for row in rows]

    # -- tags -----------------------------------------------------------------------------

    def get_tags(self, job_arn: str) -> dict[str, str]:
        with self._read() as connection:
            rows = connection.execute(_SELECT_TAGS, {"arn": job_arn})
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


def _event_from_row(row: sa.Row[Any]) -> JobEvent:
    return JobEvent(JobEventType(row.event_type), moment(row.time) or never(), row.message)
