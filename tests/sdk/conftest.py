"""Fixtures of the SDK acceptance tests: a live server that runs jobs, and an environment
set up the way a user would (``AWS_ENDPOINT_URL`` plus any key and a region).

The amazon-braket-sdk is used exactly as published: nothing of it is patched; the tests
only set environment variables and work in a temporary directory (the SDK writes
``model.tar.gz``, result directories and ``decorator_job_*`` folders into the CWD).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.braket import point_sdk_at
from support.server import LiveServer, start_server

REGION = "us-west-2"
ACCOUNT = "000000000000"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
LOCAL_DEVICE = "local:braket/braket.local.qubit"

SDK_SERVER_ENV: dict[str, str] = {
    "HYBRIDJOBS_STOP_GRACE_SECONDS": "2",
    "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
}


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for every SDK test (starting one takes seconds)."""
    live = start_server(tmp_path_factory.mktemp("sdk-server"), env=SDK_SERVER_ENV)
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


@pytest.fixture
def user_env(server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The one-variable set-up (plus credentials and region); CWD is a fresh directory."""
    return point_sdk_at(monkeypatch, server.url, REGION, tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def wait_for(job: Any, wanted: Callable[[str], bool], timeout: float = 60.0) -> str:
    """Poll ``job.state()`` (GetJob) until ``wanted(state)``; return the state."""
    deadline = time.monotonic() + timeout
    while True:
        state: str = job.state()
        if wanted(state):
            return state
        if time.monotonic() >= deadline:
            raise AssertionError(f"{job.arn} still {state} after {timeout} s: {job.metadata()}")
        time.sleep(0.2)


def finished(job: Any, timeout: float = 60.0) -> str:
    """Wait until the job is terminal; return its final state."""
    return wait_for(job, lambda state: state in TERMINAL, timeout)
