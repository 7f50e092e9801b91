"""Jobs in SQL: create (with idempotency), read, search, compare-and-set transitions,
admission and claims; the job part of :class:`~hybridjobs.store.sql.SqlJobStore`."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from hybridjobs.jobs.model import (
    TERMINAL_STATUSES,
    UNFINISHED_STATUSES,
    Job,
    JobEvent,
    JobStatus,
    sources_of,
)
from hybridjobs.jobs.ports import JobOrder, TagMatch
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
from hybridjobs.store.sqlengine import epoch, moment
from hybridjobs.store.sqlevents import (
    SELECT_LATEST_EVENTS,
    SELECT_TAGS,
    SqlJobEvents,
    event_from_row,
)
from hybridjobs.store.sqlusage import record_job_usage

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

_ORDER_COLUMNS = {"name": schema.jobs.c.job_name, "status": schema.jobs.c.status}


def _ordering(
    order: JobOrder, conditions: list[sa.ColumnElement[bool]]
) -> list[sa.ColumnElement[Any]]:
    """The ORDER BY of ``order`` (its column, then seq, both in its direction), adding
    to ``conditions`` the keyset condition of its ``after``; indexes on (account, column,
    seq) serve both."""
    seq = schema.jobs.c.seq
    column = _ORDER_COLUMNS.get(order.key)
    after = order.after
    if column is None:
        if after is not None:
            conditions.append(seq < after[1] if order.descending else seq > after[1])
        return [seq.desc() if order.descending else seq.asc()]
    if after is not None:
        row, mark = sa.tuple_(column, seq), sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
        conditions.append(row < mark if order.descending else row > mark)
    if order.descending:
        return [column.desc(), seq.desc()]
    return [column.asc(), seq.asc()]


def _tag_condition(match: TagMatch) -> sa.ColumnElement[bool]:
    """The job has tag ``match.key`` (with ``match.value`` when given)."""
    tags = schema.job_tags
    found = [tags.c.job_arn == schema.jobs.c.job_arn, tags.c.key == match.key]
    if match.value is not None:
        found.append(tags.c.value == match.value)
    return sa.exists().where(*found)


# Statements on the API's hot paths, built once: SQLAlchemy memoizes a statement object's
# cache key, so reusing it skips rebuilding and re-keying the statement on every call.
_SELECT_JOB = sa.select(schema.jobs).where(schema.jobs.c.job_arn == sa.bindparam("arn"))
_SELECT_IDEMPOTENCY = sa.select(schema.idempotency).where(
    schema.idempotency.c.account_id == sa.bindparam("account"),
    schema.idempotency.c.client_token == sa.bindparam("token"),
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


class SqlJobRecords(SqlJobEvents):
    """The job rows: every status change is a compare-and-set against the transition
    table, and a write made under a :class:`Claim` only while that claim holds."""

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

    def find_idempotent_job(self, idempotency: IdempotencyKey) -> Job | None:
        with self._read() as connection:
            return self._find_idempotent(connection, idempotency)

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
                connection.execute(SELECT_LATEST_EVENTS, {"arn": job_arn, "limit": event_limit})
            )
            tags = {t.key: t.value for t in connection.execute(SELECT_TAGS, {"arn": job_arn})}
            position = None
            if with_queue_position and job.status is JobStatus.QUEUED:
                count = connection.execute(_COUNT_QUEUED_BEFORE, {"seq": job.seq}).scalar()
                position = int(count or 0)
        events.reverse()
        return JobDetails(job, [event_from_row(e) for e in events], tags, position)

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
        if to in TERMINAL_STATUSES:
            record_job_usage(connection, row)  # commits with the status (usage records)
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
        *,
        order: JobOrder | None = None,
        tags: Sequence[TagMatch] = (),
    ) -> list[Job]:
        jobs = schema.jobs
        conditions: list[sa.ColumnElement[bool]] = [jobs.c.account_id == account_id]
        conditions.extend(filter_condition(_FILTER_COLUMNS, f) for f in filters)
        conditions.extend(_tag_condition(match) for match in tags)
        if order is None:
            if before_seq is not None:
                conditions.append(jobs.c.seq < before_seq)
            ordering: list[sa.ColumnElement[Any]] = [jobs.c.seq.desc()]
        else:
            ordering = _ordering(order, conditions)
        query = sa.select(jobs).where(*conditions).order_by(*ordering).limit(limit)
        with self._read() as connection:
            return [_job_from_row(row) for row in connection.execute(query)]
