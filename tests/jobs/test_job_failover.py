"""A control plane of two API processes and two schedulers over one PostgreSQL database:
one scheduler is active (it holds the scheduler lease), the other stands by, and killing
the active one hands every running job to the other, none lost and none run twice."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from hybridjobs.scheduler.loop import SCHEDULER_LEASE
from hybridjobs.store.sql import SqlJobStore
from jobs.conftest import ServerPool, describe, event_types, start_scheduler, wait_until

# Each job notes its start in a file of its own, prints, waits for the release file,
# prints again and saves a result.
SCRIPT = """
import os, pathlib, time

def main(release: str, starts: str):
    with open(starts, "a") as noted:
        noted.write("started\\n")
    print("before the failover", flush=True)
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
    print("after the failover", flush=True)
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text("{}")
"""
JOBS = 10


def owner(store: SqlJobStore, arn: str) -> str | None:
    job = store.get_job(arn)
    assert job is not None
    return job.owner


def lines(store: SqlJobStore, arn: str) -> list[str]:
    return [e.message for e in store.list_log_events(arn, "algo-1") if "failover" in e.message]


def test_killing_the_active_scheduler_hands_every_job_to_the_other(
    servers: ServerPool,
    scheduler_process: list[subprocess.Popen[bytes]],
    pg_database: tuple[str, SqlJobStore],
    tmp_path: Path,
) -> None:
    url, store = pg_database
    env = {
        "HYBRIDJOBS_DB_URL": url,
        "HYBRIDJOBS_CAPACITY_VCPUS": "40",
        "HYBRIDJOBS_CAPACITY_MEMORY_GIB": "1000",
    }
    first_api = servers.start(env=env, extra_args=("--no-scheduler",))
    second_api = servers.start(data_dir=first_api.data_dir, env=env, extra_args=("--no-scheduler",))
    active = start_scheduler(first_api, env)
    scheduler_process.append(active)
    wait_until(lambda: store.lease_holder(SCHEDULER_LEASE), 30, "an active scheduler")
    standby = start_scheduler(first_api, env)
    scheduler_process.append(standby)
    release = tmp_path / "release"
    starts = [tmp_path / f"starts-{i}" for i in range(JOBS)]
    arns = [
        (first_api if i % 2 else second_api).create(
            SCRIPT,
            entry_point="script:main",
            hyperParameters={"release": str(release), "starts": str(starts[i])},
        )
        for i in range(JOBS)
    ]
    wait_until(
        lambda: all(lines(store, arn) == ["before the failover"] for arn in arns),
        60,
        "every job running and shipping its output",
    )
    lease = store.lease_holder(SCHEDULER_LEASE)
    assert lease is not None and lease.holder.split(":")[1] == str(active.pid)

    os.kill(active.pid, signal.SIGKILL)
    active.wait()
    scheduler_process.remove(active)

    wait_until(
        lambda: all(
            (store.get_job(arn) or store).owner not in (None, lease.holder) for arn in arns
        ),  # type: ignore[union-attr]
        30,
        "the standby taking every job over",
    )
    release.touch()
    finished = [first_api.wait(arn, timeout=60) for arn in arns]

    for job, started in zip(finished, starts, strict=True):
        assert job["status"] == "COMPLETED", describe(job)
        types = event_types(job)
        assert types.count("RUNNING") == 1 and types.count("COMPLETED") == 1, types
        assert started.read_text() == "started\n"  # run once, re-attached, never restarted
        assert lines(store, job["jobArn"]) == ["before the failover", "after the failover"]
        assert first_api.results_json(job) == {}
    new_lease = store.lease_holder(SCHEDULER_LEASE)
    assert new_lease is not None and new_lease.holder.split(":")[1] == str(standby.pid)
    assert new_lease.epoch == lease.epoch + 1
