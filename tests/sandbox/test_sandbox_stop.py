"""Cancel and max runtime stop everything a job started, escapees included: a ``setsid``
child and a fork bomb, in the sandbox (its PID namespace dies) and without one (the
instance's cgroup is emptied). A memory hog fails with a reason naming its memory."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import JobKit, ServerPool, wait_for_status, wait_until
from jobs.test_job_instance_end import LEAVES_SLEEP

from hybridjobs.sandbox.cgroups import detect_cgroups
from sandbox.conftest import SMALL_MEMORY_GIB, SMALL_TYPE

ESCAPEES = """
import os, subprocess, sys, time
marker = os.environ["SM_HP_MARKER"]
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker],
                 start_new_session=True)
BOMB = '''
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
'''
subprocess.Popen([sys.executable, "-c", BOMB, marker], start_new_session=True)
print("escapees started", flush=True)
time.sleep(600)
"""


def marked(marker: str) -> list[int]:
    """Host processes whose command line carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmdline and state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


CGROUPS, WHY_NOT = detect_cgroups()
needs_cgroups = pytest.mark.skipif(
    CGROUPS is None,
    reason=f"this host delegates no cgroups (no memory or process limits): {WHY_NOT}",
)
"""Without cgroups there is no memory limit to hit, and nothing bounds a fork bomb."""


@needs_cgroups
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
@pytest.mark.parametrize("stop", ["cancel", "max_runtime"])
def test_setsid_child_and_fork_bomb_are_stopped(
    servers: ServerPool, sandbox: str, stop: str
) -> None:
    kit = servers.start(env={"HYBRIDJOBS_SANDBOX": sandbox, "HYBRIDJOBS_SANDBOX_PIDS_MAX": "64"})
    marker = f"hj-escapee-{uuid.uuid4().hex[:10]}"
    extra: dict[str, Any] = {}
    if stop == "max_runtime":
        extra["stoppingCondition"] = {"maxRuntimeInSeconds": 8}
    arn = kit.create(ESCAPEES, hyperParameters={"marker": marker}, **extra)
    wait_for_status(kit.braket, arn, {"RUNNING"})
    wait_until(lambda: len(marked(marker)) >= 3, what="the setsid child and the fork bomb")
    if stop == "cancel":
        kit.braket.cancel_job(jobArn=arn)
        job = wait_for_status(kit.braket, arn, {"CANCELLED"})
    else:
        job = wait_for_status(kit.braket, arn, {"FAILED"})
        assert job["failureReason"].startswith("MaxRuntimeExceeded"), job["failureReason"]
    left = marked(marker)
    assert left == [], f"processes of the job outlived it: {left}"
    kit.assert_no_processes(job["jobArn"])


MEMORY_HOG = """
chunks = []
while True:
    chunks.append(bytearray(32 * 2**20))  # zero-filled: every page is touched
"""


@needs_cgroups
def test_memory_hog_fails_naming_the_instance_types_memory(jobs: JobKit) -> None:
    job = jobs.run(MEMORY_HOG, instanceConfig={"instanceType": SMALL_TYPE})
    assert job["status"] == "FAILED", job
    reason = job["failureReason"]
    assert "out of memory" in reason and f"{SMALL_MEMORY_GIB:g} GiB" in reason, reason
    assert SMALL_TYPE in reason, reason


VOLUME_FILLER = """
import os, time
with open("/opt/ml/model/filler.bin", "wb") as out:
    os.posix_fallocate(out.fileno(), 0, int(1.1 * 2**30))
time.sleep(600)
"""


def test_outgrowing_the_volume_fails_naming_volume_size(jobs: JobKit) -> None:
    job = jobs.run(VOLUME_FILLER, instanceConfig={"volumeSizeInGb": 1})
    assert job["status"] == "FAILED", job
    assert "volumeSizeInGb of 1 GB" in job["failureReason"], job["failureReason"]


def test_what_a_sandboxed_instance_leaves_behind_is_stopped_and_named(jobs: JobKit) -> None:
    job = jobs.run_ok(LEAVES_SLEEP)
    pids = jobs.results_json(job)  # as the instance saw them, in its PID namespace
    logs = jobs.logs(job["jobArn"])
    assert "stopping what it left in its process group" in logs, logs
    assert f"{pids['sleep']} (sleep)" in logs and f"{pids['stubborn']} (sh)" in logs, logs
    jobs.assert_no_processes(job["jobArn"])
