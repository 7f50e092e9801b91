"""The TaskStore contract (``hybridjobs.store.taskbase``) on SQLite and PostgreSQL, and the
migration that brought tasks to databases made before them."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from hybridjobs.arns import new_task_arn
from hybridjobs.store.base import IdempotencyConflict, IdempotencyKey, JobFilter
from hybridjobs.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from hybridjobs.store.schema import schema_version
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.tasks.model import QuantumTask, QueuePriority, TaskStatus

ACCOUNT = "111111111111"
OTHER = "222222222222"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
T0 = datetime.datetime(2024, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)


def make_task(
    *,
    account: str = ACCOUNT,
    device: str = SV1,
    priority: QueuePriority = QueuePriority.NORMAL,
    job_arn: str | None = None,
    seconds: float = 0,
) -> QuantumTask:
    arn = new_task_arn("us-west-2", account)
    return QuantumTask(
        task_arn=str(arn),
        task_id=arn.task_id,
        account_id=account,
        region="us-west-2",
        status=TaskStatus.QUEUED,
        device_arn=device,
        engine="braket_sv",
        shots=100,
        action='{"source": "OPENQASM 3.0;"}',
        device_parameters=None,
        output_s3_bucket="bucket",
        output_s3_directory=f"tasks/{arn.task_id}",
        created_at=T0 + datetime.timedelta(seconds=seconds),
        priority=priority,
        job_arn=job_arn,
        tags={"k": "v"},
    )


def stored(store: SqlJobStore, **fields: object) -> QuantumTask:
    task, created = store.create_task(make_task(**fields), None)  # type: ignore[arg-type]
    assert created
    return task


def test_create_and_get_round_trip(store: SqlJobStore) -> None:
    task = stored(store, job_arn="arn:aws:braket:us-west-2:111111111111:job/x")
    again = store.get_task(task.task_arn)
    assert again is not None
    assert (again.task_arn, again.status, again.shots, again.tags, again.job_arn) == (
        task.task_arn,
        TaskStatus.QUEUED,
        100,
        {"k": "v"},
        "arn:aws:braket:us-west-2:111111111111:job/x",
    )
    assert again.created_at == T0
    assert store.get_task(task.task_arn + "0") is None


def test_idempotency_same_request_same_task_other_request_conflict(store: SqlJobStore) -> None:
    key = IdempotencyKey(ACCOUNT, "token", "hash-a")
    first, created = store.create_task(make_task(), key)
    assert created
    again, created_again = store.create_task(make_task(), key)
    assert (again.task_arn, created_again) == (first.task_arn, False)
    with pytest.raises(IdempotencyConflict):
        store.create_task(make_task(), IdempotencyKey(ACCOUNT, "token", "hash-b"))
    other, created_other = store.create_task(
        make_task(account=OTHER), IdempotencyKey(OTHER, "token", "hash-b")
    )
    assert created_other and other.task_arn != first.task_arn


def test_concurrent_creates_with_one_token_make_one_task(store: SqlJobStore) -> None:
    key = IdempotencyKey(ACCOUNT, "race", "same")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.create_task(make_task(), key), range(16)))
    assert len({task.task_arn for task, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_transitions_are_compare_and_set(store: SqlJobStore) -> None:
    task = stored(store)
    running = store.transition_task(
        task.task_arn, TaskStatus.RUNNING, expected=[TaskStatus.QUEUED], updates={"owner": "me"}
    )
    assert running is not None and running.owner == "me"
    assert (
        store.transition_task(task.task_arn, TaskStatus.RUNNING, expected=[TaskStatus.QUEUED])
        is None
    )
    done = store.transition_task(
        task.task_arn,
        TaskStatus.COMPLETED,
        updates={"ended_at": T0, "num_successful_shots": 100, "action_metadata": {"a": 1}},
    )
    assert done is not None and done.num_successful_shots == 100 and done.ended_at == T0
    assert store.transition_task(task.task_arn, TaskStatus.CANCELLED) is None
    with pytest.raises(ValueError):
        store.transition_task(task.task_arn, TaskStatus.CANCELLED, expected=[TaskStatus.COMPLETED])
    with pytest.raises(ValueError):
        store.transition_task(task.task_arn, TaskStatus.FAILED, updates={"shots": 3})


def test_queue_order_priority_first_then_oldest(store: SqlJobStore) -> None:
    normal_old = stored(store, seconds=0)
    priority_new = stored(store, seconds=1, priority=QueuePriority.PRIORITY)
    normal_new = stored(store, seconds=2)
    other_device = stored(store, seconds=3, device=DM1)
    order = [t.task_arn for t in store.queued_tasks(10)]
    assert order == [
        priority_new.task_arn,
        normal_old.task_arn,
        normal_new.task_arn,
        other_device.task_arn,
    ]
    assert store.task_queue_position(priority_new) == 0
    assert store.task_queue_position(normal_old) == 1
    assert store.task_queue_position(normal_new) == 2
    assert store.task_queue_position(other_device) == 0
    sizes = {(s.device_arn, s.priority): s.size for s in store.task_queue_sizes()}
    assert sizes == {
        (SV1, QueuePriority.NORMAL): 2,
        (SV1, QueuePriority.PRIORITY): 1,
        (DM1, QueuePriority.NORMAL): 1,
    }


def test_search_is_scoped_filtered_newest_first_and_paged(store: SqlJobStore) -> None:
    job = "arn:aws:braket:us-west-2:111111111111:job/j"
    tasks = [stored(store, seconds=i, job_arn=job if i % 2 else None) for i in range(5)]
    stored(store, account=OTHER)
    found = store.search_tasks(ACCOUNT, [], 10)
    assert [t.task_arn for t in found] == [t.task_arn for t in reversed(tasks)]
    of_job = store.search_tasks(ACCOUNT, [JobFilter("job_arn", "EQUAL", (job,))], 10)
    assert {t.task_arn for t in of_job} == {tasks[1].task_arn, tasks[3].task_arn}
    after = store.search_tasks(
        ACCOUNT, [JobFilter("created_at", "GT", (T0 + datetime.timedelta(seconds=2),))], 10
    )
    assert {t.task_arn for t in after} == {tasks[3].task_arn, tasks[4].task_arn}
    page = store.search_tasks(ACCOUNT, [], 2, before_seq=found[1].seq)
    assert [t.task_arn for t in page] == [tasks[2].task_arn, tasks[1].task_arn]
    assert [t.task_arn for t in store.unfinished_tasks_of_job(job)] == [
        tasks[1].task_arn,
        tasks[3].task_arn,
    ]


def test_tags_add_replace_remove(store: SqlJobStore) -> None:
    task = stored(store)
    store.set_task_tags(task.task_arn, {"a": "1", "k": "w"})
    store.set_task_tags(task.task_arn, {}, ["a"])
    again = store.get_task(task.task_arn)
    assert again is not None and again.tags == {"k": "w"}


def test_job_tokens_find_their_job(store: SqlJobStore) -> None:
    from contract.test_store_contract import make_job, queued_event

    job = make_job()
    job.job_token = "s3cret"
    store.create_job(job, queued_event(), {}, None)
    found = store.job_for_token("s3cret")
    assert found is not None and found.job_arn == job.job_arn
    assert store.job_for_token("other") is None


def test_a_version_1_database_gains_tasks(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'v1.db'}")
    with engine.begin() as connection:
        MIGRATIONS[0].apply(connection)
        schema_version.create(connection)
        connection.execute(schema_version.insert().values(version=1))
    assert migrate(engine) == 1
    with engine.connect() as connection:
        assert current_version(connection) == LATEST_VERSION
        inspector = sa.inspect(connection)
        assert "quantum_tasks" in inspector.get_table_names()
        assert "job_token" in {c["name"] for c in inspector.get_columns("jobs")}
    engine.dispose()
