"""A scheduler that stalls past the heartbeat timeout loses its jobs to another and then
writes nothing about them: no log line, metric, event or status (issue 16).

Two ``hybridjobs scheduler`` processes over one PostgreSQL database, as an operator would
run them; the stall is a real SIGSTOP and SIGCONT.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
from pathlib import Path

from hybridjobs.jobs.model import JobStatus
from hybridjobs.store.sql import SqlJobStore
from jobs.conftest import ServerPool, describe, event_types, start_scheduler, wait_until

# Each instance prints 60 lines and logs 60 metric points, waits for the file named by the
# "release" hyperparameter, then prints and logs 60 more.
SCRIPT = """
import os, pathlib, time
from braket.jobs.metrics import log_metric

def step(i):
    print(f"line {i}", flush=True)
    log_metric(metric_name="step", value=i, iteration_number=i)

def main(release: str):
    for i in range(60):
        step(i)
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
    for i in range(60, 120):
        step(i)
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text("{}")
"""
HOSTS = ("algo-1", "algo-2")


def printed_lines(store: SqlJobStore, arn: str, host: str) -> list[str]:
    return [e.message for e in store.list_log_events(arn, host) if e.message.startswith("line ")]


def test_a_stalled_scheduler_that_lost_its_job_writes_nothing_more(
    servers: ServerPool,
    scheduler_process: list[subprocess.Popen[bytes]],
    pg_database: tuple[str, SqlJobStore],
    tmp_path: Path,
) -> None:
    url, store = pg_database
    env = {"HYBRIDJOBS_DB_URL": url, "HYBRIDJOBS_HEARTBEAT_TIMEOUT_SECONDS": "2"}
    api = servers.start(env=env, extra_args=("--no-scheduler",))
    first = start_scheduler(api, env)
    scheduler_process.append(first)
    release = tmp_path / "release"
    arn = api.create(
        SCRIPT,
        entry_point="script:main",
        hyperParameters={"release": str(release)},
        instanceConfig={"instanceType": "ml.m5.large", "instanceCount": 2},
    )
    wait_until(
        lambda: all(len(printed_lines(store, arn, host)) == 60 for host in HOSTS),
        60,
        "both instances' first 60 lines shipped by the first scheduler",
    )
    job = store.get_job(arn)
    assert job is not None and job.owner is not None
    stalled_owner = job.owner

    # The first scheduler stalls; the second takes the job over and runs it to the end.
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = start_scheduler(api, env)
        scheduler_process.append(second)
        wait_until(
            lambda: (store.get_job(arn) or job).owner not in (None, stalled_owner),
            60,
            "the second scheduler taking the job over",
        )
        release.touch()
        finished = api.wait(arn, timeout=60)
        assert finished["status"] == "COMPLETED", describe(finished)
    finally:
        os.kill(first.pid, signal.SIGCONT)

    # Resumed, the first scheduler still has lines 60-119 to read from its own offsets, and
    # a job it believes RUNNING: it finds its claim gone and leaves.
    scheduler_log = api.data_dir / "scheduler.log"
    wait_until(
        lambda: "another scheduler has taken the job over" in scheduler_log.read_text(),
        30,
        "the resumed scheduler noticing that it lost the job",
    )
    # Each line and each metric point exactly once, in order; one end.
    expected_lines = [f"line {i}" for i in range(120)]
    for host in HOSTS:
        assert printed_lines(store, arn, host) == expected_lines, host
    points = collections.Counter(p.instance for p in store.list_metrics(arn))
    assert points == {host: 120 for host in HOSTS}, points
    steps = [p.value for p in store.list_metrics(arn) if p.instance == "algo-1"]
    assert steps == [float(i) for i in range(120)]
    final = api.braket.get_job(jobArn=arn)
    types = event_types(final)
    assert types.count("COMPLETED") == 1 and types[-1] == "COMPLETED", types
    assert types.count("UPLOADING_RESULTS") == 1, types
    stored = store.get_job(arn)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    assert stored.owner != stalled_owner
    assert api.results_json(final) == {}
