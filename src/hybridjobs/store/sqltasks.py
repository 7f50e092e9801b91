"""Quantum tasks in SQL: the task half of :class:`~hybridjobs.store.sql.SqlJobStore`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hybridjobs.store import schema
from hybridjobs.store.base import IdempotencyConflict, IdempotencyKey, JobFilter
from hybridjobs.store.filters import filter_condition
from hybridjobs.store.notify import notify_in
from hybridjobs.store.sqlengine import SqlConnections, epoch, moment
from hybridjobs.store.sqlusage import record_task_usage
from hybridjobs.store.taskbase import QueueSize
from hybridjobs.tasks.model import (
    TASK_TERMINAL_STATUSES,
    QuantumTask,
    QueuePriority,
    TaskStatus,
    task_sources_of,
)

_TASKS = schema.quantum_tasks
_TIME_FIELDS = ("started_at", "ended_at")
_UPDATABLE = frozenset(
    {"started_at", "ended_at", "failure_reason", "num_successful_shots", "action_metadata", "owner"}
)
_UNFINISHED = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value, TaskStatus.CANCELLING.value)
_FILTER_COLUMNS = {
    "task_arn": _TASKS.c.task_arn,
    "device_arn": _TASKS.c.device_arn,
    "job_arn": _TASKS.c.job_arn,
    "status": _TASKS.c.status,
    "created_at": _TASKS.c.created_at,
}
_PRIORITY_RANK = sa.case((_TASKS.c.priority == QueuePriority.PRIORITY.value, 0), else_=1)

_SELECT_TASK = sa.select(_TASKS).where(_TASKS.c.task_arn == sa.bindparam("arn"))
_SELECT_IDEMPOTENCY = sa.select(schema.task_idempotency).where(
    schema.task_idempotency.c.account_id == sa.bindparam("account"),
    schema.task_idempotency.c.client_token == sa.bindparam("token"),
)
_INSERT_TASK = _TASKS.insert()
_INSERT_IDEMPOTENCY = schema.task_idempotency.insert()


def _task_from_row(row: sa.Row[Any]) -> QuantumTask:
    created = moment(row.created_at)
    assert created is not None
    return QuantumTask(
        task_arn=row.task_arn,
        task_id=row.task_id,
        account_id=row.account_id,
        region=row.region,
        status=TaskStatus(row.status),
        device_arn=row.device_arn,
        engine=row.engine,
        shots=int(row.shots),
        action=row.action,
        device_parameters=row.device_parameters,
        output_s3_bucket=row.output_s3_bucket,
        output_s3_directory=row.output_s3_directory,
        created_at=created,
        priority=QueuePriority(row.priority),
        job_arn=row.job_arn,
        tags=dict(row.tags or {}),
        extras=dict(row.extras or {}),
        started_at=moment(row.started_at),
        ended_at=moment(row.ended_at),
        failure_reason=row.failure_reason,
        num_successful_shots=row.num_successful_shots,
        action_metadata=row.action_metadata,
        owner=row.owner,
        seq=row.seq,
    )


def _row_of(task: QuantumTask) -> dict[str, Any]:
    return {
        "task_arn": task.task_arn,
        "task_id": task.task_id,
        "account_id": task.account_id,
        "region": task.region,
        "status": task.status.value,
        "device_arn": task.device_arn,
        "engine": task.engine,
        "shots": task.shots,
        "action": task.action,
        "device_parameters": task.device_parameters,
        "output_s3_bucket": task.output_s3_bucket,
        "output_s3_directory": task.output_s3_directory,
        "priority": task.priority.value,
        "job_arn": task.job_arn,
        "tags": task.tags,
        "extras": task.extras,
        "created_at": epoch(task.created_at),
    }


class SqlTaskRecords(SqlConnections):
    """A :class:`~hybridjobs.store.taskbase.TaskStore` over SQLite or PostgreSQL."""

    def create_task(
        self, task: QuantumTask, idempotency: IdempotencyKey | None
    ) -> tuple[QuantumTask, bool]:
        try:
            with self._write() as connection:
                if idempotency is not None:
                    existing = self._find_idempotent_task(connection, idempotency)
                    if existing is not None:
                        return existing, False
                    connection.execute(
                        _INSERT_IDEMPOTENCY,
                        {
                            "account_id": idempotency.account_id,
                            "client_token": idempotency.client_token,
                            "request_hash": idempotency.request_hash,
                            "task_arn": task.task_arn,
                            "created_at": epoch(task.created_at),
                        },
                    )
                result = connection.execute(_INSERT_TASK, _row_of(task))
                notify_in(connection, "task", task.task_arn)
                seq = result.inserted_primary_key[0] if result.inserted_primary_key else 0
        except IntegrityError:
            if idempotency is None:
                raise
            with self._read() as connection:
                existing = self._find_idempotent_task(connection, idempotency)
            if existing is None:
                raise
            return existing, False
        task.seq = int(seq)
        return task, True

    def _find_idempotent_task(
        self, connection: sa.Connection, key: IdempotencyKey
    ) -> QuantumTask | None:
        record = connection.execute(
            _SELECT_IDEMPOTENCY, {"account": key.account_id, "token": key.client_token}
        ).first()
        if record is None:
            return None
        if record.request_hash != key.request_hash:
            raise IdempotencyConflict(record.task_arn)
        row = connection.execute(_SELECT_TASK, {"arn": record.task_arn}).first()
        return None if row is None else _task_from_row(row)

    def get_task(self, task_arn: str) -> QuantumTask | None:
        with self._read() as connection:
            row = connection.execute(_SELECT_TASK, {"arn": task_arn}).first()
        return None if row is None else _task_from_row(row)

    def transition_task(
        self,
        task_arn: str,
        to: TaskStatus,
        *,
        expected: Iterable[TaskStatus] | None = None,
        updates: dict[str, Any] | None = None,
    ) -> QuantumTask | None:
        allowed = task_sources_of(to)
        sources = frozenset(expected) if expected is not None else allowed
        if not sources <= allowed:
            bad = ", ".join(sorted(s.value for s in sources - allowed))
            raise ValueError(f"the task transition table does not allow {bad} -> {to.value}")
        values = dict(updates or {})
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update task fields {sorted(unknown)}")
        for key in _TIME_FIELDS:
            if key in values:
                values[key] = epoch(values[key])
        with self._write() as connection:
            result = connection.execute(
                _TASKS.update()
                .where(
                    _TASKS.c.task_arn == task_arn,
                    _TASKS.c.status.in_([s.value for s in sources]),
                )
                .values(status=to.value, **values)
            )
            if result.rowcount != 1:
                return None
            row = connection.execute(_SELECT_TASK, {"arn": task_arn}).one()
            if to in TASK_TERMINAL_STATUSES:
                record_task_usage(connection, row)  # commits with the status (usage records)
        return _task_from_row(row)

    def queued_tasks(self, limit: int) -> list[QuantumTask]:
        query = (
            sa.select(_TASKS)
            .where(_TASKS.c.status == TaskStatus.QUEUED.value)
            .order_by(_PRIORITY_RANK, _TASKS.c.seq)
            .limit(limit)
        )
        with self._read() as connection:
            return [_task_from_row(row) for row in connection.execute(query)]

    def list_tasks(self, statuses: Iterable[TaskStatus]) -> list[QuantumTask]:
        query = (
            sa.select(_TASKS)
            .where(_TASKS.c.status.in_([s.value for s in statuses]))
            .order_by(_TASKS.c.seq)
        )
        with self._read() as connection:
            return [_task_from_row(row) for row in connection.execute(query)]

    def task_queue_position(self, task: QuantumTask) -> int:
        rank = 0 if task.priority is QueuePriority.PRIORITY else 1
        rank_of = _PRIORITY_RANK
        ahead = sa.or_(rank_of < rank, sa.and_(rank_of == rank, _TASKS.c.seq < task.seq))
        query = (
            sa.select(sa.func.count())
            .select_from(_TASKS)
            .where(
                _TASKS.c.status == TaskStatus.QUEUED.value,
                _TASKS.c.device_arn == task.device_arn,
                ahead,
            )
        )
        with self._read() as connection:
            return int(connection.execute(query).scalar() or 0)

    def task_queue_sizes(self) -> list[QueueSize]:
        query = (
            sa.select(_TASKS.c.device_arn, _TASKS.c.priority, sa.func.count())
            .where(_TASKS.c.status == TaskStatus.QUEUED.value)
            .group_by(_TASKS.c.device_arn, _TASKS.c.priority)
        )
        with self._read() as connection:
            return [
                QueueSize(row[0], QueuePriority(row[1]), int(row[2]))
                for row in connection.execute(query)
            ]

    def search_tasks(
        self,
        account_id: str,
        filters: Sequence[JobFilter],
        limit: int,
        before_seq: int | None = None,
    ) -> list[QuantumTask]:
        conditions: list[sa.ColumnElement[bool]] = [_TASKS.c.account_id == account_id]
        if before_seq is not None:
            conditions.append(_TASKS.c.seq < before_seq)
        conditions.extend(filter_condition(_FILTER_COLUMNS, f) for f in filters)
        query = sa.select(_TASKS).where(*conditions).order_by(_TASKS.c.seq.desc()).limit(limit)
        with self._read() as connection:
            return [_task_from_row(row) for row in connection.execute(query)]

    def unfinished_tasks_of_job(self, job_arn: str) -> list[QuantumTask]:
        query = (
            sa.select(_TASKS)
            .where(_TASKS.c.job_arn == job_arn, _TASKS.c.status.in_(_UNFINISHED))
            .order_by(_TASKS.c.seq)
        )
        with self._read() as connection:
            return [_task_from_row(row) for row in connection.execute(query)]

    def set_task_tags(self, task_arn: str, add: dict[str, str], remove: Iterable[str] = ()) -> None:
        with self._write() as connection:
            row = connection.execute(sa.select(_TASKS.c.tags).where(_TASKS.c.task_arn == task_arn))
            current = row.scalar()
            tags = dict(current or {})
            for key in remove:
                tags.pop(key, None)
            tags.update(add)
            connection.execute(
                _TASKS.update().where(_TASKS.c.task_arn == task_arn).values(tags=tags)
            )
