"""Fixtures of the quantum-task tests: one live server that runs tasks and jobs, and a
user environment pointed at it (``AWS_ENDPOINT_URL`` plus any key and a region)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.braket import point_sdk_at
from support.server import LiveServer, start_server

REGION = "us-west-2"
ACCOUNT = "000000000000"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
AQUILA = "arn:aws:braket:us-east-1::device/qpu/quera/Aquila"
BUCKET = f"amazon-braket-{REGION}-{ACCOUNT}"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})

TASK_SERVER_ENV: dict[str, str] = {
    "HYBRIDJOBS_STOP_GRACE_SECONDS": "2",
    "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
    "HYBRIDJOBS_WARM_POOL": "false",
    "HYBRIDJOBS_TASK_WORKERS": "2",
    "HYBRIDJOBS_TASK_WORKERS_PRESTART": "true",
}


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for every task test, with the default output bucket made."""
    live = start_server(tmp_path_factory.mktemp("task-server"), env=TASK_SERVER_ENV)
    try:
        live.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


@pytest.fixture
def braket(server: LiveServer) -> Any:
    return server.client("braket", region=REGION)


@pytest.fixture
def user_env(server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The one-variable set-up a user makes (plus credentials and region); CWD is fresh."""
    return point_sdk_at(monkeypatch, server.url, REGION, tmp_path)


def openqasm_action(source: str, inputs: dict[str, float] | None = None) -> str:
    """A ``braket.ir.openqasm.program`` action document as the SDK sends it."""
    from braket.ir.openqasm import Program

    return Program(source=source, inputs=inputs or {}).json()


def create_task(braket: Any, source: str, device: str = SV1, shots: int = 100, **extra: Any) -> str:
    """CreateQuantumTask through boto3; returns the task ARN."""
    params: dict[str, Any] = {
        "clientToken": str(uuid.uuid4()),
        "deviceArn": device,
        "shots": shots,
        "outputS3Bucket": BUCKET,
        "outputS3KeyPrefix": "tasks",
        "action": openqasm_action(source),
        **extra,
    }
    arn: str = braket.create_quantum_task(**params)["quantumTaskArn"]
    return arn


BELL = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"


def wait_for_job(job: Any, timeout: float) -> str:
    """Poll ``job.state()`` (GetJob) until the job is terminal; its final state."""
    deadline = time.monotonic() + timeout
    while True:
        state: str = job.state()
        if state in TERMINAL:
            return state
        if time.monotonic() >= deadline:
            raise AssertionError(f"{job.arn} still {state} after {timeout} s")
        time.sleep(0.2)  # GetJob has no wait; the SDK itself polls
