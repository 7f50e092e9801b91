"""The JobStore contract (``hybridjobs.store.base``), run against every SQL backend.

Each test gets an empty store: a fresh SQLite file, or a fresh schema in the session's
PostgreSQL database.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.postgres import create_schema

from contract.conftest import truncate_all
from hybridjobs.arns import new_job_arn
from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus
from hybridjobs.store import schema
from hybridjobs.store.base import (
    AppendOutcome,
    AppendResult,
    Claim,
    ClaimLost,
    IdempotencyConflict,
    IdempotencyKey,
    InstanceLine,
    JobFilter,
    LogEvent,
    MetricPoint,
    UnknownJob,
    plan_append,
)
from hybridjobs.store.fencing import hold_claim
from hybridjobs.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from hybridjobs.store.sql import SqlJobStore

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
T0 = datetime.datetime(2024, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database no store has touched: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    pg_url: str = request.getfixturevalue("pg_url")
    return create_schema(pg_url)


def make_job(
    *,
    account: str = ACCOUNT,
    name: str = "job",
    created_at: datetime.datetime = T0,
    device: str = "local:braket/default",
    status: JobStatus = JobStatus.QUEUED,
) -> Job:
    arn = new_job_arn("us-west-2", account)
    return Job(
        job_arn=str(arn),
        job_id=arn.job_id,
        account_id=account,
        region="us-west-2",
        job_name=name,
        status=status,
        device=device,
        instance_type="ml.m5.large",
        instance_count=1,
        definition={"jobName": name, "instanceConfig": {"instanceType": "ml.m5.large"}},
        created_at=created_at,
    )


def queued_event(moment: datetime.datetime = T0) -> JobEvent:
    return JobEvent(JobEventType.QUEUED_FOR_EXECUTION, moment, "queued")


Create = Callable[..., Job]


@pytest.fixture
def create(store: SqlJobStore) -> Create:
    """Store a new job (no idempotency key); keyword arguments as for ``make_job``."""

    def _create(tags: dict[str, str] | None = None, **fields: Any) -> Job:
        job, created = store.create_job(
            make_job(**fields), queued_event(fields.get("created_at", T0)), tags or {}, None
        )
        assert created
        return job

    return _create


def arns(jobs: list[Job]) -> list[str]:
    return [job.job_arn for job in jobs]


def close_to(a: datetime.datetime | None, b: datetime.datetime) -> bool:
    return a is not None and abs((a - b).total_seconds()) < 1e-3


# -- create and get -----------------------------------------------------------------------


def test_create_then_get(store: SqlJobStore) -> None:
    job = make_job(name="first")

    stored, created = store.create_job(job, queued_event(), {"team": "qml"}, None)

    assert created
    assert stored.seq > 0
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert (fetched.job_arn, fetched.job_id, fetched.account_id, fetched.region) == (
        job.job_arn,
        job.job_id,
        ACCOUNT,
        "us-west-2",
    )
    assert fetched.job_name == "first"
    assert fetched.status is JobStatus.QUEUED
    assert fetched.definition == job.definition
    assert fetched.instance_type == "ml.m5.large"
    assert fetched.instance_count == 1
    assert close_to(fetched.created_at, T0)
    assert fetched.created_at.tzinfo is not None
    assert fetched.started_at is None
    assert fetched.ended_at is None
    assert fetched.owner is None
    assert fetched.runner_state == {}
    assert fetched.seq == stored.seq
    assert store.get_tags(job.job_arn) == {"team": "qml"}
    assert [e.event_type for e in store.list_events(job.job_arn)] == [
        JobEventType.QUEUED_FOR_EXECUTION
    ]


def test_get_unknown_job_is_none(store: SqlJobStore) -> None:
    assert store.get_job("arn:aws:braket:us-west-2:111111111111:job/nope") is None


def test_seq_grows_with_each_job(create: Create) -> None:
    seqs = [create().seq for _ in range(3)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3


# -- idempotency --------------------------------------------------------------------------


def test_same_token_same_request_returns_the_first_job(store: SqlJobStore) -> None:
    key = IdempotencyKey(ACCOUNT, "token-1", "hash-a")
    first, created_first = store.create_job(make_job(), queued_event(), {}, key)

    again, created_again = store.create_job(make_job(), queued_event(), {"x": "y"}, key)

    assert created_first
    assert not created_again
    assert again.job_arn == first.job_arn
    assert arns(store.search_jobs(ACCOUNT, [], 100)) == [first.job_arn]
    assert store.get_tags(first.job_arn) == {}


def test_same_token_other_request_conflicts(store: SqlJobStore) -> None:
    first, _ = store.create_job(
        make_job(), queued_event(), {}, IdempotencyKey(ACCOUNT, "token-1", "hash-a")
    )

    with pytest.raises(IdempotencyConflict) as raised:
        store.create_job(
            make_job(), queued_event(), {}, IdempotencyKey(ACCOUNT, "token-1", "hash-b")
        )

    assert raised.value.job_arn == first.job_arn
    assert arns(store.search_jobs(ACCOUNT, [], 100)) == [first.job_arn]


def test_tokens_are_scoped_to_the_account(store: SqlJobStore) -> None:
    mine, _ = store.create_job(
        make_job(), queued_event(), {}, IdempotencyKey(ACCOUNT, "shared", "hash")
    )
    theirs, created = store.create_job(
        make_job(account=OTHER_ACCOUNT),
        queued_event(),
        {},
        IdempotencyKey(OTHER_ACCOUNT, "shared", "hash"),
    )
    assert created
    assert theirs.job_arn != mine.job_arn


def test_concurrent_creates_with_one_token_make_one_job(store: SqlJobStore) -> None:
    key = IdempotencyKey(ACCOUNT, "race-token", "same-hash")
    start = threading.Barrier(20)

    def attempt(_: int) -> tuple[str, bool]:
        job = make_job()
        start.wait(timeout=30)
        stored, created = store.create_job(job, queued_event(), {}, key)
        return stored.job_arn, created

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))

    assert sum(created for _, created in results) == 1
    assert len({arn for arn, _ in results}) == 1
    assert arns(store.search_jobs(ACCOUNT, [], 100)) == [results[0][0]]


# -- transitions --------------------------------------------------------------------------


def test_transition_moves_records_event_and_updates(store: SqlJobStore, create: Create) -> None:
    job = create()
    started = at(5)

    moved = store.transition(
        job.job_arn,
        JobStatus.RUNNING,
        event=JobEvent(JobEventType.RUNNING, started, "running"),
        updates={"started_at": started, "owner": "scheduler-1", "runner_state": {"pid": 42}},
    )

    assert moved is not None
    assert moved.status is JobStatus.RUNNING
    assert close_to(moved.started_at, started)
    assert moved.owner == "scheduler-1"
    assert moved.runner_state == {"pid": 42}
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert fetched.status is JobStatus.RUNNING
    assert [e.event_type for e in store.list_events(job.job_arn)] == [
        JobEventType.QUEUED_FOR_EXECUTION,
        JobEventType.RUNNING,
    ]


def test_transition_is_compare_and_set(store: SqlJobStore, create: Create) -> None:
    job = create()

    assert store.transition(job.job_arn, JobStatus.RUNNING, expected=[JobStatus.QUEUED])
    again = store.transition(
        job.job_arn,
        JobStatus.RUNNING,
        expected=[JobStatus.QUEUED],
        event=JobEvent(JobEventType.RUNNING, at(1)),
    )

    assert again is None
    assert len(store.list_events(job.job_arn)) == 1  # the losing claim wrote nothing


def test_only_one_of_two_concurrent_claims_wins(store: SqlJobStore, create: Create) -> None:
    for _ in range(5):
        job = create()
        start = threading.Barrier(2)

        def claim(owner: str, arn: str = job.job_arn, barrier: threading.Barrier = start) -> bool:
            barrier.wait(timeout=30)
            return (
                store.transition(
                    arn, JobStatus.RUNNING, expected=[JobStatus.QUEUED], updates={"owner": owner}
                )
                is not None
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            wins = list(pool.map(claim, ["a", "b"]))

        assert sorted(wins) == [False, True]
        fetched = store.get_job(job.job_arn)
        assert fetched is not None
        assert fetched.owner == ["a", "b"][wins.index(True)]


# -- admission: claim_if_fits ------------------------------------------------------------


def test_claim_if_fits_sees_every_owners_active_jobs_and_claims(
    store: SqlJobStore, create: Create
) -> None:
    running = create(name="running")
    cancelling = create(name="cancelling")
    done = create(name="done")
    store.transition(running.job_arn, JobStatus.RUNNING, updates={"owner": "a"})
    store.transition(cancelling.job_arn, JobStatus.RUNNING, updates={"owner": "b"})
    store.transition(cancelling.job_arn, JobStatus.CANCELLING)
    store.transition(done.job_arn, JobStatus.RUNNING, updates={"owner": "a"})
    store.transition(done.job_arn, JobStatus.COMPLETED)
    candidate = create(name="candidate")
    seen: list[list[str]] = []

    def fits(active: list[Job]) -> bool:
        seen.append(arns(active))
        return True

    claimed = store.claim_if_fits(
        candidate.job_arn,
        fits,
        event=JobEvent(JobEventType.STARTING_INSTANCE, at(3), "starting"),
        updates={"owner": "c", "started_at": at(3)},
    )

    assert seen == [[running.job_arn, cancelling.job_arn]]
    assert claimed is not None
    assert claimed.status is JobStatus.RUNNING
    assert claimed.owner == "c"
    assert close_to(claimed.started_at, at(3))
    assert [e.event_type for e in store.list_events(candidate.job_arn)] == [
        JobEventType.QUEUED_FOR_EXECUTION,
        JobEventType.STARTING_INSTANCE,
    ]


def test_claim_if_fits_writes_nothing_when_it_does_not_fit(
    store: SqlJobStore, create: Create
) -> None:
    job = create()

    claimed = store.claim_if_fits(
        job.job_arn,
        lambda active: False,
        event=JobEvent(JobEventType.STARTING_INSTANCE, at(1)),
        updates={"owner": "a"},
    )

    assert claimed is None
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert fetched.status is JobStatus.QUEUED
    assert fetched.owner is None
    assert len(store.list_events(job.job_arn)) == 1


def test_claim_if_fits_skips_a_job_no_longer_queued(store: SqlJobStore, create: Create) -> None:
    job = create()
    store.transition(job.job_arn, JobStatus.CANCELLED)
    asked: list[list[Job]] = []

    def fits(active: list[Job]) -> bool:
        asked.append(active)
        return True

    assert store.claim_if_fits(job.job_arn, fits, updates={"owner": "a"}) is None
    assert store.claim_if_fits("arn:aws:braket:us-west-2:1:job/nope", fits) is None
    assert asked == []
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert fetched.status is JobStatus.CANCELLED


def test_racing_claims_from_separate_stores_never_exceed_the_capacity(
    store: SqlJobStore, store_url: str, create: Create
) -> None:
    """Six schedulers (each its own store, as separate processes would have) race to admit
    six different jobs against a capacity of two running jobs: exactly two win."""
    capacity, racers = 2, 6
    stores = [SqlJobStore(store_url) for _ in range(racers)]
    try:
        for round_ in range(3):
            candidates = [create(name=f"r{round_}-{i}") for i in range(racers)]
            start = threading.Barrier(racers)

            def fits(active: list[Job]) -> bool:
                time.sleep(0.02)  # widen the window between reading and claiming
                return sum(job.instance_count for job in active) + 1 <= capacity

            def claim(index: int, job: Job, barrier: threading.Barrier = start) -> bool:
                barrier.wait(timeout=30)
                claimed = stores[index].claim_if_fits(
                    job.job_arn, fits, updates={"owner": f"s{index}"}
                )
                return claimed is not None

            with ThreadPoolExecutor(max_workers=racers) as pool:
                wins = list(pool.map(claim, range(racers), candidates))

            assert wins.count(True) == capacity
            running = store.list_jobs([JobStatus.RUNNING])
            assert len(running) == capacity
            for job in running:  # free the capacity for the next round
                store.transition(job.job_arn, JobStatus.COMPLETED)
            for candidate, won in zip(candidates, wins, strict=True):
                if not won:
                    store.transition(candidate.job_arn, JobStatus.CANCELLED)
    finally:
        for opened in stores:
            opened.close()


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (JobStatus.COMPLETED, [JobStatus.QUEUED]),
        (JobStatus.RUNNING, [JobStatus.CANCELLED]),
        (JobStatus.CANCELLING, [JobStatus.QUEUED, JobStatus.RUNNING]),
        (JobStatus.QUEUED, [JobStatus.RUNNING]),
    ],
)
def test_illegal_expected_raises(
    store: SqlJobStore, create: Create, to: JobStatus, expected: list[JobStatus]
) -> None:
    job = create()
    with pytest.raises(ValueError):
        store.transition(job.job_arn, to, expected=expected)
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert fetched.status is JobStatus.QUEUED


def test_unknown_update_field_raises(store: SqlJobStore, create: Create) -> None:
    job = create()
    with pytest.raises(ValueError):
        store.transition(job.job_arn, JobStatus.RUNNING, updates={"job_name": "renamed"})
    with pytest.raises(ValueError):
        store.update_job(job.job_arn, {"status": "COMPLETED"}, claim=None)


def test_terminal_statuses_are_final(store: SqlJobStore, create: Create) -> None:
    job = create()
    assert store.transition(job.job_arn, JobStatus.CANCELLED, updates={"ended_at": at(1)})

    for target in JobStatus:
        assert store.transition(job.job_arn, target) is None
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert fetched.status is JobStatus.CANCELLED
    assert close_to(fetched.ended_at, at(1))


def test_default_expected_follows_the_transition_table(store: SqlJobStore, create: Create) -> None:
    job = create()
    assert store.transition(job.job_arn, JobStatus.CANCELLING) is None  # not from QUEUED
    assert store.transition(job.job_arn, JobStatus.RUNNING) is not None
    assert store.transition(job.job_arn, JobStatus.CANCELLING) is not None
    done = store.transition(job.job_arn, JobStatus.FAILED, updates={"failure_reason": "boom"})
    assert done is not None
    assert done.failure_reason == "boom"


def test_transition_of_unknown_job_is_none(store: SqlJobStore) -> None:
    assert (
        store.transition("arn:aws:braket:us-west-2:111111111111:job/x", JobStatus.RUNNING) is None
    )


# -- events -------------------------------------------------------------------------------


def test_events_oldest_first_and_limit_keeps_the_latest(store: SqlJobStore, create: Create) -> None:
    job = create()
    types = [
        JobEventType.STARTING_INSTANCE,
        JobEventType.DOWNLOADING_DATA,
        JobEventType.RUNNING,
        JobEventType.UPLOADING_RESULTS,
    ]
    for index, event_type in enumerate(types):
        store.add_event(job.job_arn, JobEvent(event_type, at(index + 1), f"message {index}"))

    everything = store.list_events(job.job_arn)
    latest = store.list_events(job.job_arn, limit=2)

    assert [e.event_type for e in everything] == [JobEventType.QUEUED_FOR_EXECUTION, *types]
    assert [e.message for e in everything[1:]] == [f"message {i}" for i in range(4)]
    assert close_to(everything[2].time, at(2))
    assert [e.event_type for e in latest] == types[-2:]


def test_events_are_per_job(store: SqlJobStore, create: Create) -> None:
    first, second = create(), create()
    store.add_event(first.job_arn, JobEvent(JobEventType.RUNNING, at(1)))
    assert len(store.list_events(first.job_arn)) == 2
    assert len(store.list_events(second.job_arn)) == 1


# -- tags ---------------------------------------------------------------------------------


def test_tags_set_overwrite_and_untag(store: SqlJobStore, create: Create) -> None:
    job = create(tags={"a": "1", "b": "2"})

    store.tag(job.job_arn, {"b": "two", "c": "3"})
    assert store.get_tags(job.job_arn) == {"a": "1", "b": "two", "c": "3"}

    store.untag(job.job_arn, ["a", "missing"])
    assert store.get_tags(job.job_arn) == {"b": "two", "c": "3"}

    store.tag(job.job_arn, {})
    store.untag(job.job_arn, [])
    assert store.get_tags(job.job_arn) == {"b": "two", "c": "3"}


def test_tags_are_per_job(store: SqlJobStore, create: Create) -> None:
    first, second = create(tags={"k": "first"}), create()
    store.tag(second.job_arn, {"k": "second"})
    assert store.get_tags(first.job_arn) == {"k": "first"}
    assert store.get_tags(second.job_arn) == {"k": "second"}


# -- search -------------------------------------------------------------------------------


@pytest.fixture
def population(store: SqlJobStore, create: Create) -> dict[str, Job]:
    """Six jobs a minute apart (oldest first) plus one of another account."""
    jobs = {
        "alpha": create(name="alpha", created_at=at(0)),
        "alpha-two": create(
            name="alpha-two", created_at=at(60), device="local:pennylane/lightning"
        ),
        "beta": create(name="beta", created_at=at(120)),
        "percent": create(name="100%done", created_at=at(180)),
        "under": create(name="a_b", created_at=at(240)),
        "axb": create(name="axb", created_at=at(300)),
        "theirs": create(name="alpha", created_at=at(30), account=OTHER_ACCOUNT),
    }
    store.transition(jobs["beta"].job_arn, JobStatus.RUNNING)
    return jobs


def found(store: SqlJobStore, *filters: JobFilter, account: str = ACCOUNT) -> list[str]:
    return [job.job_name for job in store.search_jobs(account, list(filters), 100)]


def test_search_without_filters_is_newest_first_and_scoped(
    store: SqlJobStore, population: dict[str, Job]
) -> None:
    assert found(store) == ["axb", "a_b", "100%done", "beta", "alpha-two", "alpha"]
    assert found(store, account=OTHER_ACCOUNT) == ["alpha"]
    assert found(store, account="333333333333") == []


def test_search_by_arn(store: SqlJobStore, population: dict[str, Job]) -> None:
    arn = population["beta"].job_arn
    assert found(store, JobFilter("job_arn", "EQUAL", (arn,))) == ["beta"]
    theirs = population["theirs"].job_arn
    assert found(store, JobFilter("job_arn", "EQUAL", (theirs,))) == []


def test_search_by_name(store: SqlJobStore, population: dict[str, Job]) -> None:
    assert found(store, JobFilter("job_name", "EQUAL", ("alpha",))) == ["alpha"]
    assert found(store, JobFilter("job_name", "EQUAL", ("alpha", "beta"))) == ["beta", "alpha"]
    assert found(store, JobFilter("job_name", "CONTAINS", ("lph",))) == ["alpha-two", "alpha"]
    assert found(store, JobFilter("job_name", "CONTAINS", ("two", "bet"))) == ["beta", "alpha-two"]


def test_contains_treats_percent_and_underscore_literally(
    store: SqlJobStore, population: dict[str, Job]
) -> None:
    assert found(store, JobFilter("job_name", "CONTAINS", ("%",))) == ["100%done"]
    assert found(store, JobFilter("job_name", "CONTAINS", ("_",))) == ["a_b"]
    assert found(store, JobFilter("job_name", "CONTAINS", ("a_b",))) == ["a_b"]


def test_search_by_device_and_status(store: SqlJobStore, population: dict[str, Job]) -> None:
    assert found(store, JobFilter("device", "EQUAL", ("local:pennylane/lightning",))) == [
        "alpha-two"
    ]
    assert found(store, JobFilter("status", "EQUAL", ("RUNNING",))) == ["beta"]
    assert found(store, JobFilter("status", "EQUAL", ("COMPLETED",))) == []


@pytest.mark.parametrize(
    ("operator", "values", "names"),
    [
        ("EQUAL", (at(120),), ["beta"]),
        ("EQUAL", (at(0), at(300)), ["axb", "alpha"]),
        ("LT", (at(120),), ["alpha-two", "alpha"]),
        ("LTE", (at(120),), ["beta", "alpha-two", "alpha"]),
        ("GT", (at(180),), ["axb", "a_b"]),
        ("GTE", (at(180),), ["axb", "a_b", "100%done"]),
        ("BETWEEN", (at(60), at(180)), ["100%done", "beta", "alpha-two"]),
        ("BETWEEN", (at(180), at(60)), ["100%done", "beta", "alpha-two"]),
    ],
)
def test_search_by_created_at(
    store: SqlJobStore,
    population: dict[str, Job],
    operator: str,
    values: tuple[datetime.datetime, ...],
    names: list[str],
) -> None:
    assert found(store, JobFilter("created_at", operator, values)) == names


def test_created_at_equal_matches_the_millisecond_the_wire_shows(
    store: SqlJobStore, create: Create
) -> None:
    create(name="precise", created_at=at(10.0004))  # GetJob shows ...:10.000Z

    assert found(store, JobFilter("created_at", "EQUAL", (at(10),))) == ["precise"]
    assert found(store, JobFilter("created_at", "EQUAL", (at(10.001),))) == []
    assert found(store, JobFilter("created_at", "EQUAL", (at(9.999),))) == []


def test_filters_are_anded(store: SqlJobStore, population: dict[str, Job]) -> None:
    assert found(
        store,
        JobFilter("job_name", "CONTAINS", ("a",)),
        JobFilter("created_at", "GTE", (at(60),)),
        JobFilter("status", "EQUAL", ("QUEUED",)),
    ) == ["axb", "a_b", "alpha-two"]


def test_pagination_by_seq_newest_first(store: SqlJobStore, create: Create) -> None:
    created = [create(name=f"job-{i}", created_at=at(i)) for i in range(7)]
    expected = [job.job_arn for job in reversed(created)]

    pages: list[list[str]] = []
    before: int | None = None
    while True:
        page = store.search_jobs(ACCOUNT, [], 3, before)
        if not page:
            break
        pages.append(arns(page))
        before = page[-1].seq

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [arn for page in pages for arn in page] == expected


def test_search_limit(store: SqlJobStore, population: dict[str, Job]) -> None:
    assert len(store.search_jobs(ACCOUNT, [], 2)) == 2


# -- queue, listing, ownership ------------------------------------------------------------


def test_queue_position_counts_queued_jobs_created_before(
    store: SqlJobStore, create: Create
) -> None:
    first, second, third = create(), create(account=OTHER_ACCOUNT), create()

    assert [store.queue_position(j) for j in (first, second, third)] == [0, 1, 2]

    store.transition(first.job_arn, JobStatus.RUNNING)
    store.transition(second.job_arn, JobStatus.CANCELLED)
    assert store.queue_position(third) == 0


def test_list_jobs_by_status_oldest_first(store: SqlJobStore, create: Create) -> None:
    jobs = [create(account=OTHER_ACCOUNT if i % 2 else ACCOUNT) for i in range(5)]
    store.transition(jobs[1].job_arn, JobStatus.RUNNING)
    store.transition(jobs[3].job_arn, JobStatus.CANCELLED)

    assert arns(store.list_jobs([JobStatus.QUEUED])) == arns([jobs[0], jobs[2], jobs[4]])
    assert arns(store.list_jobs([JobStatus.QUEUED, JobStatus.RUNNING])) == arns(
        [jobs[0], jobs[1], jobs[2], jobs[4]]
    )
    assert arns(store.list_jobs([JobStatus.QUEUED], limit=2)) == arns([jobs[0], jobs[2]])
    assert store.list_jobs([JobStatus.COMPLETED]) == []
    assert store.list_jobs([]) == []


def claimed_by(store: SqlJobStore, create: Create, owner: str) -> tuple[Job, Claim]:
    """A new job admitted by ``owner``, and its claim."""
    job = create()
    claimed = store.claim_if_fits(job.job_arn, lambda running: True, updates={"owner": owner})
    assert claimed is not None
    return claimed, Claim(owner, claimed.claim_epoch)


def test_every_claim_raises_the_epoch(store: SqlJobStore, create: Create) -> None:
    job, claim = claimed_by(store, create, "sched-a")
    assert claim == Claim("sched-a", 1)
    assert store.holds(job.job_arn, claim)

    taken = store.take_over(job.job_arn, claim, "sched-b", at(5))

    assert taken == Claim("sched-b", 2)
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert (fetched.owner, fetched.claim_epoch) == ("sched-b", 2)
    assert close_to(fetched.heartbeat_at, at(5))
    assert not store.holds(job.job_arn, claim)
    assert store.holds(job.job_arn, taken)
    # The previous claim can be taken over once: a second scheduler loses the race.
    assert store.take_over(job.job_arn, claim, "sched-c", at(6)) is None


def test_take_over_leaves_finished_jobs_alone(store: SqlJobStore, create: Create) -> None:
    job, claim = claimed_by(store, create, "sched-a")
    store.transition(job.job_arn, JobStatus.COMPLETED, claim=claim)

    assert store.take_over(job.job_arn, claim, "sched-b", at(5)) is None


def test_a_lost_claim_writes_nothing(store: SqlJobStore, create: Create) -> None:
    job, stale = claimed_by(store, create, "sched-a")
    current = store.take_over(job.job_arn, stale, "sched-b", at(5))
    assert current is not None
    line = [LogEvent("algo-1", at(6), "printed once")]
    point = [MetricPoint("algo-1", 6.0, "loss", 0.5, 0)]
    event = JobEvent(JobEventType.RUNNING, at(6), "running")

    for write in (
        lambda: store.add_log_events(job.job_arn, line, claim=stale),
        lambda: store.add_metrics(job.job_arn, point, claim=stale),
        lambda: store.add_event(job.job_arn, event, claim=stale),
        lambda: store.update_job(job.job_arn, {"runner_state": {"pid": 1}}, claim=stale),
        lambda: store.transition(job.job_arn, JobStatus.COMPLETED, claim=stale),
        lambda: store.transition(job.job_arn, JobStatus.RUNNING, claim=stale),
    ):
        with pytest.raises(ClaimLost):
            write()

    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert (fetched.status, fetched.runner_state) == (JobStatus.RUNNING, {})
    assert store.list_log_events(job.job_arn, "algo-1") == []
    assert store.list_metrics(job.job_arn) == []
    assert [e.event_type for e in store.list_events(job.job_arn)] == [
        JobEventType.QUEUED_FOR_EXECUTION
    ]

    store.add_log_events(job.job_arn, line, claim=current)
    store.add_metrics(job.job_arn, point, claim=current)
    store.add_event(job.job_arn, event, claim=current)
    store.update_job(job.job_arn, {"runner_state": {"pid": 2}}, claim=current)
    assert store.transition(job.job_arn, JobStatus.COMPLETED, claim=current) is not None
    assert [e.message for e in store.list_log_events(job.job_arn, "algo-1")] == ["printed once"]
    assert [p.value for p in store.list_metrics(job.job_arn)] == [0.5]
    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert (fetched.status, fetched.runner_state) == (JobStatus.COMPLETED, {"pid": 2})


def test_a_held_claim_still_compares_the_status(store: SqlJobStore, create: Create) -> None:
    job, claim = claimed_by(store, create, "sched-a")
    store.transition(job.job_arn, JobStatus.CANCELLING)

    # The claim holds, so a transition the status forbids is a plain "no" (None).
    assert (
        store.transition(
            job.job_arn, JobStatus.COMPLETED, expected=[JobStatus.RUNNING], claim=claim
        )
        is None
    )
    assert store.transition(job.job_arn, JobStatus.CANCELLED, claim=claim) is not None


def test_update_job_without_a_claim_is_unconditional(store: SqlJobStore, create: Create) -> None:
    job, _claim = claimed_by(store, create, "sched-a")

    store.update_job(job.job_arn, {"heartbeat_at": at(9)}, claim=None)

    fetched = store.get_job(job.job_arn)
    assert fetched is not None
    assert close_to(fetched.heartbeat_at, at(9))
    with pytest.raises(ClaimLost):
        store.update_job(
            "arn:aws:braket:us-west-2:111111111111:job/x", {"owner": "z"}, claim=Claim("a", 1)
        )


def test_heartbeat_touches_only_the_owners_unfinished_jobs(
    store: SqlJobStore, create: Create
) -> None:
    mine, also_mine, theirs, finished = create(), create(), create(), create()
    for job, owner in ((mine, "a"), (also_mine, "a"), (theirs, "b"), (finished, "a")):
        store.transition(job.job_arn, JobStatus.RUNNING, updates={"owner": owner})
    store.transition(finished.job_arn, JobStatus.COMPLETED, updates={"ended_at": at(1)})

    touched = store.heartbeat(
        "a", [mine.job_arn, also_mine.job_arn, theirs.job_arn, finished.job_arn], at(50)
    )

    assert touched == 2
    beats = {
        job.job_arn: (store.get_job(job.job_arn) or job).heartbeat_at
        for job in (mine, also_mine, theirs, finished)
    }
    assert close_to(beats[mine.job_arn], at(50))
    assert close_to(beats[also_mine.job_arn], at(50))
    assert beats[theirs.job_arn] is None
    assert beats[finished.job_arn] is None
    assert store.heartbeat("a", [], at(60)) == 0


# -- logs and metrics ---------------------------------------------------------------------


def test_log_events_in_order_per_instance(store: SqlJobStore, create: Create) -> None:
    job, other = create(), create()
    store.add_log_events(
        job.job_arn,
        [
            LogEvent("algo-1", at(1), "one"),
            LogEvent("algo-2", at(1), "other instance"),
            LogEvent("algo-1", at(2), "two"),
            LogEvent("algo-1", at(3), "three"),
        ],
    )
    store.add_log_events(other.job_arn, [LogEvent("algo-1", at(1), "other job")])
    store.add_log_events(job.job_arn, [])

    lines = store.list_log_events(job.job_arn, "algo-1")

    assert [e.message for e in lines] == ["one", "two", "three"]
    assert [e.instance for e in lines] == ["algo-1"] * 3
    assert close_to(lines[1].timestamp, at(2))
    sequences = [e.sequence for e in lines]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 3
    after_first = store.list_log_events(job.job_arn, "algo-1", after_sequence=sequences[0])
    assert [e.message for e in after_first] == ["two", "three"]
    assert store.list_log_events(job.job_arn, "algo-1", after_sequence=sequences[-1]) == []
    assert [e.message for e in store.list_log_events(job.job_arn, "algo-2")] == ["other instance"]
    assert [e.message for e in store.list_log_events(job.job_arn, "algo-1", limit=2)] == [
        "one",
        "two",
    ]


def test_log_events_time_window_is_half_open(store: SqlJobStore, create: Create) -> None:
    job = create()
    store.add_log_events(job.job_arn, [LogEvent("algo-1", at(t), f"t{t}") for t in range(5)])

    window = store.list_log_events(job.job_arn, "algo-1", start_time=at(1), end_time=at(3))
    since = store.list_log_events(job.job_arn, "algo-1", start_time=at(3))
    until = store.list_log_events(job.job_arn, "algo-1", end_time=at(1))

    assert [e.message for e in window] == ["t1", "t2"]
    assert [e.message for e in since] == ["t3", "t4"]
    assert [e.message for e in until] == ["t0"]


def test_metrics_round_trip(store: SqlJobStore, create: Create) -> None:
    job, other = create(), create()
    points = [
        MetricPoint("algo-1", 1700000000.5, "loss", 0.25, 1),
        MetricPoint("algo-1", 1700000001.5, "loss", 0.125, 2),
        MetricPoint("algo-2", 1700000002.0, "accuracy", 0.9, None),
    ]
    store.add_metrics(job.job_arn, points)
    store.add_metrics(other.job_arn, [MetricPoint("algo-1", 1.0, "x", 1.0)])
    store.add_metrics(job.job_arn, [])

    assert store.list_metrics(job.job_arn) == points
    assert store.list_metrics("arn:aws:braket:us-west-2:111111111111:job/none") == []


# -- lines shipped by instance agents, exactly once ---------------------------------------


def shipped(first: int, count: int, instance: str = "algo-1") -> list[InstanceLine]:
    """Lines ``first .. first+count-1`` of an agent's output, printed a second apart;
    every line numbered 3 (mod 4) is a metrics line."""
    lines = []
    for number in range(first, first + count):
        if number % 4 == 3:
            text = f"Metrics - timestamp={number}; loss={number / 10}; iteration_number={number};"
            metrics: tuple[MetricPoint, ...] = (
                MetricPoint(instance, float(number), "loss", number / 10, number),
            )
        else:
            text, metrics = f"line {number}", ()
        lines.append(InstanceLine(at(number), text, metrics))
    return lines


def stored_lines(store: SqlJobStore, job: Job, instance: str = "algo-1") -> list[str]:
    return [e.message for e in store.list_log_events(job.job_arn, instance)]


def expected_lines(count: int) -> list[str]:
    return [line.message for line in shipped(0, count)]


@pytest.mark.parametrize(
    ("accepted", "first", "count", "outcome"),
    [
        (0, 0, 3, AppendOutcome(AppendResult.APPENDED, 3, 3)),
        (5, 5, 2, AppendOutcome(AppendResult.APPENDED, 2, 7)),
        (5, 0, 5, AppendOutcome(AppendResult.ALREADY_ACCEPTED, 0, 5)),
        (5, 3, 2, AppendOutcome(AppendResult.ALREADY_ACCEPTED, 0, 5)),
        (5, 3, 4, AppendOutcome(AppendResult.APPENDED, 2, 7)),
        (5, 0, 6, AppendOutcome(AppendResult.APPENDED, 1, 6)),
        (5, 6, 1, AppendOutcome(AppendResult.GAP, 0, 5)),
        (5, 5, 0, AppendOutcome(AppendResult.APPENDED, 0, 5)),
    ],
)
def test_plan_append_arithmetic(
    accepted: int, first: int, count: int, outcome: AppendOutcome
) -> None:
    assert plan_append(accepted, first, count) == outcome


def test_plan_append_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError):
        plan_append(0, -1, 1)


def test_instance_lines_in_order_advance_the_count(store: SqlJobStore, create: Create) -> None:
    job = create()
    assert store.accepted_instance_lines(job.job_arn, "algo-1") == 0

    first = store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 3))
    second = store.append_instance_lines(job.job_arn, "algo-1", 3, shipped(3, 2))

    assert first == AppendOutcome(AppendResult.APPENDED, 3, 3)
    assert second == AppendOutcome(AppendResult.APPENDED, 2, 5)
    assert store.accepted_instance_lines(job.job_arn, "algo-1") == 5
    events = store.list_log_events(job.job_arn, "algo-1")
    assert [e.message for e in events] == expected_lines(5)
    assert [e.timestamp for e in events] == [at(n) for n in range(5)]
    assert store.list_metrics(job.job_arn) == [MetricPoint("algo-1", 3.0, "loss", 0.3, 3)]


def test_a_retried_batch_is_already_accepted_and_stores_nothing(
    store: SqlJobStore, create: Create
) -> None:
    job = create()
    store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 4))
    store.append_instance_lines(job.job_arn, "algo-1", 4, shipped(4, 2))

    whole = store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 4))
    inner = store.append_instance_lines(job.job_arn, "algo-1", 2, shipped(2, 4))

    assert whole == inner == AppendOutcome(AppendResult.ALREADY_ACCEPTED, 0, 6)
    assert stored_lines(store, job) == expected_lines(6)
    assert len(store.list_metrics(job.job_arn)) == 1
    assert store.accepted_instance_lines(job.job_arn, "algo-1") == 6


def test_a_longer_retry_stores_only_its_new_tail(store: SqlJobStore, create: Create) -> None:
    job = create()
    store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 3))

    outcome = store.append_instance_lines(job.job_arn, "algo-1", 1, shipped(1, 7))

    assert outcome == AppendOutcome(AppendResult.APPENDED, 5, 8)
    assert stored_lines(store, job) == expected_lines(8)
    # The metrics of line 3 (accepted before) are not stored again; those of line 7 are.
    assert [p.iteration_number for p in store.list_metrics(job.job_arn)] == [3, 7]
    assert store.accepted_instance_lines(job.job_arn, "algo-1") == 8


def test_a_gap_stores_nothing(store: SqlJobStore, create: Create) -> None:
    job = create()
    assert store.append_instance_lines(job.job_arn, "algo-1", 2, shipped(2, 2)) == (
        AppendOutcome(AppendResult.GAP, 0, 0)
    )
    store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 2))

    outcome = store.append_instance_lines(job.job_arn, "algo-1", 3, shipped(3, 5))

    assert outcome == AppendOutcome(AppendResult.GAP, 0, 2)
    assert stored_lines(store, job) == expected_lines(2)
    assert store.list_metrics(job.job_arn) == []


def test_counts_are_per_job_and_instance(store: SqlJobStore, create: Create) -> None:
    job, other = create(), create()
    store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 3))
    store.append_instance_lines(job.job_arn, "algo-2", 0, shipped(0, 1, "algo-2"))
    store.append_instance_lines(other.job_arn, "algo-1", 0, shipped(0, 2))
    # Lines the scheduler ships for an instance do not move the agent's count.
    store.add_log_events(job.job_arn, [LogEvent("algo-1", at(99), "from the scheduler")])

    assert store.accepted_instance_lines(job.job_arn, "algo-1") == 3
    assert store.accepted_instance_lines(job.job_arn, "algo-2") == 1
    assert store.accepted_instance_lines(other.job_arn, "algo-1") == 2
    assert store.accepted_instance_lines(other.job_arn, "algo-2") == 0
    assert stored_lines(store, job, "algo-2") == ["line 0"]


def test_lines_are_accepted_after_the_job_ended(store: SqlJobStore, create: Create) -> None:
    job = create(status=JobStatus.COMPLETED)
    outcome = store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, 1))
    assert outcome.result is AppendResult.APPENDED
    assert stored_lines(store, job) == ["line 0"]


def test_appending_to_an_unknown_job_writes_nothing(store: SqlJobStore) -> None:
    arn = "arn:aws:braket:us-west-2:111111111111:job/none"
    with pytest.raises(UnknownJob):
        store.append_instance_lines(arn, "algo-1", 0, shipped(0, 1))
    assert store.list_log_events(arn, "algo-1") == []
    assert store.accepted_instance_lines(arn, "algo-1") == 0


def test_shipped_nul_characters_are_kept_where_the_database_can(
    store: SqlJobStore, create: Create
) -> None:
    job = create()
    store.append_instance_lines(job.job_arn, "algo-1", 0, [InstanceLine(at(0), "a\x00b")])
    nul = "\ufffd" if store.dialect == "postgresql" else "\x00"
    assert stored_lines(store, job) == [f"a{nul}b"]


@pytest.mark.parametrize("first_line", [0, 2])
def test_concurrent_appends_with_one_token_store_the_lines_once(
    store: SqlJobStore, store_url: str, create: Create, first_line: int
) -> None:
    """Eight agents (four stores, as separate processes would have) send the same batch
    under the same token at once, on a stream with no lines yet (its count is created by
    the race) or with some: one stores it, the others find it already accepted."""
    job = create()
    if first_line:
        store.append_instance_lines(job.job_arn, "algo-1", 0, shipped(0, first_line))
    stores = [store, *(SqlJobStore(store_url) for _ in range(3))]
    racers = 8
    start = threading.Barrier(racers)

    def append(index: int) -> AppendOutcome:
        start.wait(timeout=30)
        chosen = stores[index % len(stores)]
        return chosen.append_instance_lines(
            job.job_arn, "algo-1", first_line, shipped(first_line, 5)
        )

    try:
        with ThreadPoolExecutor(max_workers=racers) as pool:
            outcomes = list(pool.map(append, range(racers)))
    finally:
        for opened in stores[1:]:
            opened.close()

    end = first_line + 5
    assert outcomes.count(AppendOutcome(AppendResult.APPENDED, 5, end)) == 1
    assert outcomes.count(AppendOutcome(AppendResult.ALREADY_ACCEPTED, 0, end)) == racers - 1
    assert stored_lines(store, job) == expected_lines(end)
    assert [p.iteration_number for p in store.list_metrics(job.job_arn)] == [3]
    assert store.accepted_instance_lines(job.job_arn, "algo-1") == end


# -- migrations ---------------------------------------------------------------------------


def test_migrations_are_idempotent(store: SqlJobStore, store_url: str, create: Create) -> None:
    job = create(tags={"keep": "me"})

    second = SqlJobStore(store_url)
    try:
        assert migrate(second.engine) == LATEST_VERSION
        with second.engine.connect() as connection:
            assert current_version(connection) == LATEST_VERSION
            versions = connection.execute(sa.text("SELECT version FROM schema_version"))
            assert [tuple(v) for v in versions] == [(LATEST_VERSION,)]
        fetched = second.get_job(job.job_arn)
        assert fetched is not None
        assert fetched.job_name == job.job_name
        assert second.get_tags(job.job_arn) == {"keep": "me"}
        assert len(second.list_events(job.job_arn)) == 1
    finally:
        second.close()


def test_a_version_3_database_gains_log_cursors(empty_database_url: str) -> None:
    engine = sa.create_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            for migration in MIGRATIONS[:3]:
                migration.apply(connection)
            schema.schema_version.create(connection)
            connection.execute(schema.schema_version.insert().values(version=3))
            assert not sa.inspect(connection).has_table("log_cursors")
        assert migrate(engine) == 3
        assert migrate(engine) == LATEST_VERSION
        with engine.connect() as connection:
            assert sa.inspect(connection).has_table("log_cursors")
            assert current_version(connection) == LATEST_VERSION
        with engine.begin() as connection:  # applying it again changes nothing
            MIGRATIONS[3].apply(connection)
    finally:
        engine.dispose()


def test_a_fresh_database_starts_at_version_zero(empty_database_url: str) -> None:
    engine = sa.create_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert current_version(connection) == 0
        assert migrate(engine) == 0
        with engine.connect() as connection:
            assert current_version(connection) == LATEST_VERSION
    finally:
        engine.dispose()


@pytest.fixture
def pg_store(pg_store_url: str) -> Iterator[SqlJobStore]:
    """The emptied PostgreSQL store (row locks are PostgreSQL's; SQLite has one writer)."""
    truncate_all(pg_store_url)
    opened = SqlJobStore(pg_store_url)
    try:
        yield opened
    finally:
        opened.close()


def test_a_takeover_waits_for_no_stalled_write_and_then_fences_it(pg_store: SqlJobStore) -> None:
    """A scheduler stopped inside a fenced write (its transaction holds the job's row)
    delays a takeover by a pass, never blocks it: ``take_over`` gives up after its lock
    timeout and succeeds once the write is over."""
    job = make_job()
    pg_store.create_job(job, queued_event(), {}, None)
    claimed = pg_store.claim_if_fits(job.job_arn, lambda running: True, updates={"owner": "a"})
    assert claimed is not None
    stale = Claim("a", claimed.claim_epoch)
    with pg_store.engine.begin() as stalled:
        hold_claim(stalled, job.job_arn, stale)  # the stalled scheduler's open write

        started = time.monotonic()
        assert pg_store.take_over(job.job_arn, stale, "b", at(5)) is None
        assert time.monotonic() - started < 10

    taken = pg_store.take_over(job.job_arn, stale, "b", at(6))
    assert taken == Claim("b", stale.epoch + 1)
    with pytest.raises(ClaimLost):
        pg_store.add_log_events(job.job_arn, [LogEvent("algo-1", at(7), "late")], claim=stale)


# -- the scheduler lease -------------------------------------------------------------------


def test_a_lease_has_one_holder_until_it_expires(store: SqlJobStore) -> None:
    first = store.acquire_lease("scheduler", "a", now=100.0, ttl=10.0)
    assert first is not None and (first.holder, first.epoch, first.expires_at) == ("a", 1, 110.0)

    assert store.acquire_lease("scheduler", "b", now=105.0, ttl=10.0) is None
    renewed = store.acquire_lease("scheduler", "a", now=108.0, ttl=10.0)
    assert renewed is not None and (renewed.epoch, renewed.expires_at) == (1, 118.0)
    assert store.acquire_lease("scheduler", "b", now=117.0, ttl=10.0) is None

    taken = store.acquire_lease("scheduler", "b", now=119.0, ttl=10.0)
    assert taken is not None and (taken.holder, taken.epoch) == ("b", 2)
    assert store.acquire_lease("scheduler", "a", now=120.0, ttl=10.0) is None
    held = store.lease_holder("scheduler")
    assert held is not None and held.holder == "b"


def test_a_lease_is_handed_over_on_release_or_from_a_dead_holder(store: SqlJobStore) -> None:
    assert store.acquire_lease("scheduler", "a", now=0.0, ttl=30.0) is not None
    store.release_lease("scheduler", "someone-else")  # not the holder: nothing happens
    assert store.acquire_lease("scheduler", "b", now=1.0, ttl=30.0) is None

    store.release_lease("scheduler", "a")
    handed = store.acquire_lease("scheduler", "b", now=2.0, ttl=30.0)
    assert handed is not None and handed.epoch == 2

    replaced = store.acquire_lease("scheduler", "c", now=3.0, ttl=30.0, replacing="b")
    assert replaced is not None and (replaced.holder, replaced.epoch) == ("c", 3)
    assert store.acquire_lease("scheduler", "d", now=4.0, ttl=30.0, replacing="b") is None
    assert store.lease_holder("other") is None


def test_racing_processes_get_one_lease(store_url: str) -> None:
    stores = [SqlJobStore(store_url) for _ in range(4)]
    try:
        barrier = threading.Barrier(8)

        def contend(index: int) -> bool:
            barrier.wait()
            return stores[index % 4].acquire_lease("scheduler", f"s{index}", 50.0, 30.0) is not None

        with ThreadPoolExecutor(8) as pool:
            won = list(pool.map(contend, range(8)))
        assert won.count(True) == 1, won
    finally:
        for opened in stores:
            opened.close()


# -- local log files: lines and offsets together -------------------------------------------


def test_lines_metrics_and_the_file_offset_are_stored_together(
    store: SqlJobStore, create: Create
) -> None:
    job, claim = claimed_by(store, create, "sched-a")
    assert store.log_file_offsets(job.job_arn) == {}
    lines = [LogEvent("algo-1", at(1), "one"), LogEvent("algo-1", at(1), "two")]
    points = [MetricPoint("algo-1", 1.0, "loss", 0.5, 0)]

    store.ship_log_file(job.job_arn, "algo-1", lines, points, 8, claim=claim)
    store.ship_log_file(job.job_arn, "algo-2", [], [], 0, claim=claim)
    store.ship_log_file(
        job.job_arn, "algo-1", [LogEvent("algo-1", at(2), "3")], [], 10, claim=claim
    )

    assert store.log_file_offsets(job.job_arn) == {"algo-1": 10, "algo-2": 0}
    assert [e.message for e in store.list_log_events(job.job_arn, "algo-1")] == ["one", "two", "3"]
    assert [p.value for p in store.list_metrics(job.job_arn)] == [0.5]

    taken = store.take_over(job.job_arn, claim, "sched-b", at(3))
    assert taken is not None
    with pytest.raises(ClaimLost):
        store.ship_log_file(
            job.job_arn, "algo-1", [LogEvent("algo-1", at(4), "x")], [], 12, claim=claim
        )
    assert store.log_file_offsets(job.job_arn) == {"algo-1": 10, "algo-2": 0}
    assert len(store.list_log_events(job.job_arn, "algo-1")) == 3
