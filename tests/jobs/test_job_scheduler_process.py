"""The scheduler as its own process (``hybridjobs scheduler``) next to an API-only server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from support.server import server_env

from jobs.conftest import JOBS_SERVER_ENV, ServerPool, event_types, wait_until

SCRIPT = """
import os, pathlib
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
    '{"endpoint": "%s"}' % os.environ["AWS_ENDPOINT_URL_BRAKET"])
"""


@pytest.fixture
def scheduler_process() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Holds the scheduler processes a test starts; each is stopped with SIGTERM."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError("the scheduler did not stop within 15 s of SIGTERM") from None
        assert process.returncode == 0, process.returncode


def start_scheduler(api: Any) -> subprocess.Popen[bytes]:
    """``hybridjobs scheduler`` on the data directory of the API-only server ``api``."""
    env = server_env({**JOBS_SERVER_ENV, "HYBRIDJOBS_PORT": str(api.server.port)})
    with (api.data_dir / "scheduler.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hybridjobs.cli", "scheduler", "--data-dir", str(api.data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def test_separate_scheduler_runs_a_job(
    servers: ServerPool, scheduler_process: list[subprocess.Popen[bytes]]
) -> None:
    api = servers.start(extra_args=("--no-scheduler",))
    arn = api.create(SCRIPT)
    job = api.braket.get_job(jobArn=arn)
    assert job["status"] == "QUEUED"  # nothing runs it yet

    scheduler_process.append(start_scheduler(api))
    job = api.wait(arn, ["COMPLETED"], timeout=30)
    assert api.results_json(job) == {"endpoint": api.server.url}
    assert event_types(job)[-1] == "COMPLETED"
    wait_until(lambda: not api.processes(arn), 5, "no job processes")


def test_separate_scheduler_runs_quantum_tasks(
    servers: ServerPool, scheduler_process: list[subprocess.Popen[bytes]]
) -> None:
    import uuid

    from braket.ir.openqasm import Program

    api = servers.start(extra_args=("--no-scheduler",))
    api.server.client("s3").create_bucket(
        Bucket="task-results", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    source = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"
    arn = api.braket.create_quantum_task(
        clientToken=str(uuid.uuid4()),
        deviceArn="arn:aws:braket:::device/quantum-simulator/amazon/sv1",
        shots=50,
        outputS3Bucket="task-results",
        outputS3KeyPrefix="t",
        action=Program(source=source, inputs={}).json(),
    )["quantumTaskArn"]
    assert api.braket.get_quantum_task(quantumTaskArn=arn)["status"] == "QUEUED"

    scheduler_process.append(start_scheduler(api))
    wait_until(
        lambda: api.braket.get_quantum_task(quantumTaskArn=arn)["status"] == "COMPLETED",
        60,
        "the task COMPLETED by the separate scheduler",
    )
    assert api.braket.get_quantum_task(quantumTaskArn=arn)["numSuccessfulShots"] == 50
