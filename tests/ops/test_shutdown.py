"""SIGTERM: by default running jobs detach (their instances keep running and the next
start re-attaches, every line shipped once); with ``--stop-jobs-on-exit`` they are
stopped while the API still answers, so what an instance does on SIGTERM reaches it."""

from __future__ import annotations

import functools
from pathlib import Path

from jobs.conftest import BUCKET, JobKit, ServerPool, event_types, wait_until

DETACH = {"HYBRIDJOBS_STOP_JOBS_ON_EXIT": "false"}
LINES = 20

# Prints half its lines, waits for the test's release file, prints the rest.
PRINTER = f"""
import os, pathlib, time

def main(release: str):
    host = os.environ["SM_CURRENT_HOST"]
    for i in range({LINES}):
        if i == {LINES // 2}:
            while not pathlib.Path(release).exists():
                time.sleep(0.05)
        print(f"{{host}} line {{i}}", flush=True)
"""

# On SIGTERM, writes an object through the service's S3 (the API must still answer).
LAST_WORDS = f"""
import signal, sys, time
import boto3

s3 = boto3.client("s3")

def stopped(signum, frame):
    s3.put_object(Bucket="{BUCKET}", Key="last-words", Body=b"stopped cleanly")
    sys.exit(0)

signal.signal(signal.SIGTERM, stopped)
print("waiting", flush=True)
time.sleep(300)
"""


def _printed(kit: JobKit, arn: str, host: str, line: int) -> bool:
    return f"{host} line {line}" in kit.shipped_lines(arn, host)


def test_sigterm_detaches_and_the_next_start_reattaches(
    servers: ServerPool, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    first = servers.start(env=DETACH)
    arn = first.create(
        PRINTER,
        entry_point="printer:main",
        instanceConfig={"instanceCount": 2},
        hyperParameters={"release": str(release)},
    )
    for host in ("algo-1", "algo-2"):
        wait_until(functools.partial(_printed, first, arn, host, LINES // 2 - 1), 30, host)
    instances = first.processes(arn)
    assert len(instances) >= 2

    assert first.server.stop() == 0  # SIGTERM
    assert first.job(arn).status.value == "RUNNING"
    assert {p.pid for p in first.processes(arn)} >= {p.pid for p in instances}, (
        "the instances should outlive a graceful stop"
    )
    assert f"job {arn} DETACHED" in first.server.log_text()

    second = servers.start(data_dir=first.data_dir, env=DETACH)
    release.touch()
    job = second.wait(arn, ["COMPLETED"], timeout=30)
    for host in ("algo-1", "algo-2"):
        shipped = [m for m in second.shipped_lines(arn, host) if m.startswith(f"{host} ")]
        assert shipped == [f"{host} line {i}" for i in range(LINES)], shipped
    assert event_types(job).count("RUNNING") == 1
    assert f"job {arn} RE-ATTACHING" in second.server.log_text()
    second.assert_no_processes(arn)


def test_stop_jobs_on_exit_stops_them_while_the_api_still_answers(
    servers: ServerPool,
) -> None:
    first = servers.start(extra_args=("--stop-jobs-on-exit",), env=DETACH)
    arn = first.create(LAST_WORDS)
    wait_until(lambda: "waiting" in first.shipped_lines(arn), 30, "the job to wait")

    assert first.server.stop() == 0
    job = first.job(arn)
    assert job.status.value == "FAILED"
    assert (job.failure_reason or "").startswith("ServiceStopped"), job.failure_reason
    first.assert_no_processes(arn)
    log = first.server.log_text()
    assert log.index("stopping the scheduler first") < log.index(f"job {arn} FAILED")

    second = servers.start(data_dir=first.data_dir)
    body = second.server.client("s3").get_object(Bucket=BUCKET, Key="last-words")["Body"]
    assert body.read() == b"stopped cleanly"
