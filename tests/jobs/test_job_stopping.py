"""Stopping jobs: maximum runtime and CancelJob stop every process of every instance."""

from __future__ import annotations

import time
from pathlib import Path

from jobs.conftest import (
    JobKit,
    Proc,
    event_types,
    live_processes,
    wait_until,
)

# Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
STUBBORN_SLEEPER = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("sleeping", flush=True)
time.sleep(300)
"""


def test_max_runtime_kills_a_sleeping_job(jobs: JobKit) -> None:
    arn = jobs.create(STUBBORN_SLEEPER, stoppingCondition={"maxRuntimeInSeconds": 2})
    job = jobs.wait(arn, ["FAILED"], timeout=20)
    types = event_types(job)
    assert types[-2:] == ["MAX_RUNTIME_EXCEEDED", "FAILED"], types
    assert "RUNNING" in types
    reason = job["failureReason"]
    assert "maximum runtime" in reason and "2 seconds" in reason, reason
    runtime = (job["endedAt"] - job["startedAt"]).total_seconds()
    assert 2 <= runtime < 10, runtime  # 2 s of runtime, 2 s of grace, then SIGKILL
    assert not jobs.results_path(job).exists()
    _assert_no_processes_in_cwd(jobs.job_dirs(arn))
    jobs.assert_no_processes(arn)


# Every instance starts a grandchild in its process group, then waits to be stopped.
SPAWNER = """
import os, pathlib, subprocess, time
child = subprocess.Popen(["sleep", "300"])
results = pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
(results / "grandchild.pid").write_text(str(child.pid))
time.sleep(300)
"""


def _grandchildren(jobs: JobKit, arn: str) -> list[int] | None:
    files = [jobs.instance_dir(arn, f"algo-{i}") / "model" / "grandchild.pid" for i in (1, 2, 3)]
    if not all(f.exists() and f.read_text() for f in files):
        return None
    return [int(f.read_text()) for f in files]


def _alive(pids: list[int]) -> list[Proc]:
    return [p for p in live_processes() if p.pid in pids]


def _assert_no_processes_in_cwd(job_dirs: list[Path]) -> None:
    roots = [str(job_dir.resolve()) for job_dir in job_dirs]
    inside = [p for p in live_processes() if p.cwd and p.cwd.startswith(tuple(roots))]
    assert not inside, inside


def test_cancel_running_multi_instance_job_leaves_no_process(jobs: JobKit) -> None:
    arn = jobs.create(SPAWNER, instanceConfig={"instanceCount": 3})
    jobs.wait(arn, ["RUNNING"])
    grandchildren = wait_until(lambda: _grandchildren(jobs, arn), 20, "three grandchildren")
    instances = jobs.processes(arn)
    assert len(_alive(grandchildren)) == 3
    assert len({p.pgid for p in instances}) == 3  # one process group per instance

    started = time.monotonic()
    answer = jobs.braket.cancel_job(jobArn=arn)
    assert answer["cancellationStatus"] == "CANCELLING"
    assert jobs.braket.get_job(jobArn=arn)["status"] in ("CANCELLING", "CANCELLED")
    job = jobs.wait(arn, ["CANCELLED"], timeout=15)
    assert time.monotonic() - started < 10
    assert event_types(job)[-1] == "CANCELLED"
    assert job["endedAt"] >= job["startedAt"]
    assert not jobs.results_path(job).exists()

    assert not _alive(grandchildren)
    assert jobs.recorded_hosts(arn) == ["algo-1", "algo-2", "algo-3"]
    groups = {p.pgid for p in instances}  # each instance leads its group
    assert not [p for p in live_processes() if p.pid in groups or p.pgid in groups]
    _assert_no_processes_in_cwd(jobs.job_dirs(arn))
    jobs.assert_no_processes(arn, timeout=0)
