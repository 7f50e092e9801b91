"""Issue 15's figure: what usage accounting adds to the end of a task and of a job.

``python -m benchmarks.usage_overhead [--rounds R] [--count N]``. Accounting writes one
usage record inside the transaction that moves a task or job to its terminal status; this
measures that transition on a file SQLite store with the record (on) and with the writer
replaced by a no-op (off), interleaved round by round: medians with min and max, per
terminal transition. It also times the spending-limit guard CreateQuantumTask enters on a
QPU (the check and the cross-process hold: ``flock`` on SQLite, an advisory lock on
PostgreSQL with ``--pg-url``), with no limit on the device and with one limit counting
``--count`` earlier tasks, and one budget check of a running job (a supervisor makes one
every 2 s per job).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy

from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus
from hybridjobs.store import sql as sql_module
from hybridjobs.store import sqltasks as task_module
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.tasks.model import QuantumTask, TaskStatus


def _no_record(connection: object, row: object) -> None:
    """Accounting off: no usage record."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _task(account: str) -> QuantumTask:
    task_id = str(uuid.uuid4())
    return QuantumTask(
        task_arn=f"arn:aws:braket:us-east-1:{account}:quantum-task/{task_id}",
        task_id=task_id,
        account_id=account,
        region="us-east-1",
        status=TaskStatus.QUEUED,
        device_arn="arn:aws:braket:::device/quantum-simulator/amazon/sv1",
        engine="braket_sv",
        shots=100,
        action="{}",
        device_parameters=None,
        output_s3_bucket="bucket",
        output_s3_directory="tasks",
        created_at=_now(),
    )


def _job(account: str) -> Job:
    job_id = str(uuid.uuid4())
    return Job(
        job_arn=f"arn:aws:braket:us-east-1:{account}:job/{job_id}",
        job_id=job_id,
        account_id=account,
        region="us-east-1",
        job_name=f"bench-{job_id[:8]}",
        status=JobStatus.QUEUED,
        device="local:none/none",
        instance_type="ml.m5.large",
        instance_count=1,
        definition={},
        created_at=_now(),
        runner_state={},
    )


def _end_tasks(store: SqlJobStore, count: int) -> list[float]:
    tasks = [store.create_task(_task("000000000000"), None)[0] for _ in range(count)]
    for task in tasks:
        store.transition_task(task.task_arn, TaskStatus.RUNNING, updates={"started_at": _now()})
    times = []
    for task in tasks:
        start = time.perf_counter()
        store.transition_task(task.task_arn, TaskStatus.COMPLETED, updates={"ended_at": _now()})
        times.append(time.perf_counter() - start)
    return times


def _end_jobs(store: SqlJobStore, count: int) -> list[float]:
    event = JobEvent(JobEventType.COMPLETED, _now(), "done")
    jobs = []
    for _ in range(count):
        job, _ = store.create_job(_job("000000000000"), event, {}, None)
        store.transition(job.job_arn, JobStatus.RUNNING, updates={"started_at": _now()})
        jobs.append(job)
    times = []
    for job in jobs:
        start = time.perf_counter()
        store.transition(
            job.job_arn,
            JobStatus.COMPLETED,
            event=event,
            updates={"ended_at": _now(), "billable_duration_ms": 1234},
        )
        times.append(time.perf_counter() - start)
    return times


GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"


def _guard_times(store: SqlJobStore, count: int) -> dict[str, list[float]]:
    """The spending-limit guard (empty body) without and with a limit, and a budget
    check of a running job, ``count`` times each."""
    from hybridjobs.store.sqlusage import SpendingLimitRow
    from hybridjobs.usage.budgets import BudgetStops, JobBudgets
    from hybridjobs.usage.limits import SpendingLimits
    from hybridjobs.usage.prices import DEFAULT_PRICES

    account = uuid.uuid4().hex[:12]
    limits = SpendingLimits(store, lambda: DEFAULT_PRICES, lambda arn: "QPU")
    times: dict[str, list[float]] = {"guard, no limit": [], "guard, one limit": []}
    for _ in range(count):
        start = time.perf_counter()
        with limits.guard(account, GARNET, 100):
            pass
        times["guard, no limit"].append(time.perf_counter() - start)
    now = time.time()
    limit = SpendingLimitRow(
        f"arn:aws:braket:us-east-1:{account}:spending-limit/{uuid.uuid4()}",
        account,
        GARNET,
        "1000000",
        now - 60,
        now + 86400,
        {},
        now - 60,
        now - 60,
    )
    store.create_spending_limit(limit, uuid.uuid4().hex, "x")
    for _ in range(count):
        task = _task(account)
        task.device_arn = GARNET
        store.create_task(task, None)
    for _ in range(count):
        start = time.perf_counter()
        with limits.guard(account, GARNET, 100):
            pass
        times["guard, one limit"].append(time.perf_counter() - start)
    budgets = JobBudgets({"*": 1000.0}, store, lambda: DEFAULT_PRICES, lambda t: 2.0)
    stops = BudgetStops(budgets, True, store.get_tags, store.job_usage_records)
    job, _ = store.create_job(
        _job(account), JobEvent(JobEventType.QUEUED_FOR_EXECUTION, _now(), "q"), {}, None
    )
    running = store.transition(job.job_arn, JobStatus.RUNNING, updates={"started_at": _now()})
    assert running is not None
    times["budget check of a running job"] = []
    for _ in range(count):
        stops._next_check.clear()
        start = time.perf_counter()
        stops(running)
        times["budget check of a running job"].append(time.perf_counter() - start)
    return times


def _ms(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1000:.3f} ms "
        f"(min {min(values) * 1000:.3f}, max {max(values) * 1000:.3f})"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.usage_overhead")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=200, help="tasks and jobs per round")
    parser.add_argument("--pg-url", help="also time the limit guard on this PostgreSQL URL")
    args = parser.parse_args(argv)
    writers = ((task_module, "record_task_usage"), (sql_module, "record_job_usage"))
    originals = [getattr(module, name) for module, name in writers]
    results: dict[tuple[str, str], list[float]] = {}
    guards: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        store = SqlJobStore(f"sqlite:///{Path(scratch) / 'bench.db'}")
        try:
            guards["sqlite"] = _guard_times(store, args.count)
            for _ in range(args.rounds):
                for mode in ("on", "off"):
                    for (module, name), original in zip(writers, originals, strict=True):
                        setattr(module, name, original if mode == "on" else _no_record)
                    results.setdefault(("task", mode), []).extend(_end_tasks(store, args.count))
                    results.setdefault(("job", mode), []).extend(_end_jobs(store, args.count))
        finally:
            for (module, name), original in zip(writers, originals, strict=True):
                setattr(module, name, original)
            store.close()
    if args.pg_url:
        pg = SqlJobStore(args.pg_url)
        try:
            guards["postgresql"] = _guard_times(pg, args.count)
        finally:
            pg.close()
    print(
        f"python {platform.python_version()}, sqlalchemy {sqlalchemy.__version__}, "
        f"{platform.machine()} {platform.system()}; {args.rounds} rounds x {args.count}"
    )
    for kind in ("task", "job"):
        on, off = results[(kind, "on")], results[(kind, "off")]
        extra = (statistics.median(on) - statistics.median(off)) * 1000
        print(
            f"{kind} terminal transition: accounting on {_ms(on)}; off {_ms(off)}; "
            f"+{extra:.3f} ms per {kind}"
        )
    for backend, measured in guards.items():
        for name, values in measured.items():
            print(f"{backend}: {name}: {_ms(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
