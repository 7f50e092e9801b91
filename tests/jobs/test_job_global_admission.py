"""Admission is global: schedulers sharing one database share one capacity (issue 16)."""

from __future__ import annotations

import subprocess
from typing import Any

from jobs.conftest import ServerPool, describe, start_scheduler

# 10 vCPUs: one ml.m5.2xlarge (8 vCPUs) fits, two do not. Memory is ample, so only the
# vCPUs decide.
CAPACITY_ENV = {"HYBRIDJOBS_CAPACITY_VCPUS": "10", "HYBRIDJOBS_CAPACITY_MEMORY_GIB": "1000"}

SCRIPT = """
import json, os, pathlib, time
start = time.time()
time.sleep(3)
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
    json.dumps({"start": start, "end": time.time()}))
"""


def test_two_schedulers_share_one_capacity(
    servers: ServerPool, scheduler_process: list[subprocess.Popen[bytes]]
) -> None:
    api = servers.start(env=CAPACITY_ENV, extra_args=("--no-scheduler",))
    arns = [api.create(SCRIPT, instanceConfig={"instanceType": "ml.m5.2xlarge"}) for _ in range(2)]
    # Both jobs wait when both schedulers start: each scheduler alone sees 10 free vCPUs.
    scheduler_process.extend(start_scheduler(api, CAPACITY_ENV) for _ in range(2))

    finished: list[dict[str, Any]] = [api.wait(arn, timeout=60) for arn in arns]

    for job in finished:
        assert job["status"] == "COMPLETED", describe(job)
    first, second = sorted((api.results_json(job) for job in finished), key=lambda r: r["start"])
    assert second["start"] >= first["end"], (first, second)
