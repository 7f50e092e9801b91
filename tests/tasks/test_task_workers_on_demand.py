"""Task workers start on demand: an idle service holds one, a burst starts more.

A server with ``HYBRIDJOBS_TASK_WORKERS=3`` starts one worker process with the service
(``prestart``); while that one runs a task and another task waits, a second worker starts
for it; once the burst is over, the extra workers stop after
``HYBRIDJOBS_TASK_WORKERS_IDLE_SECONDS`` (1 s here) and the warm one stays. Worker starts are read from the server's log (``task worker started: pid N``) and
the running workers from ``/proc`` (children of the server running
``hybridjobs.engines.worker``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.server import LiveServer, start_server

from tasks.conftest import BUCKET, REGION, TERMINAL, create_task

WORKER_STARTED = re.compile(r"task worker started: pid (\d+)")
WORKER_STOPPED_IDLE = re.compile(r"task worker \d+ stopped after \d+ s idle")

# Long enough (about a second) that the next task is stored while it still runs.
SLOW = (
    "OPENQASM 3.0;\nqubit[22] q;\nbit[22] b;\n"
    + "".join(f"h q[{i}];\n" for i in range(22)) * 6
    + "".join(f"cnot q[{i}], q[{i + 1}];\n" for i in range(21)) * 6
    + "b = measure q;"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
        "HYBRIDJOBS_WARM_POOL": "false",
        "HYBRIDJOBS_TASK_WORKERS": "3",
        "HYBRIDJOBS_TASK_WORKERS_PRESTART": "true",
        "HYBRIDJOBS_TASK_WORKERS_IDLE_SECONDS": "1",
    }
    live = start_server(tmp_path_factory.mktemp("on-demand"), env=env)
    try:
        live.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def _started(server: LiveServer) -> list[int]:
    return [int(pid) for pid in WORKER_STARTED.findall(server.log_text())]


def _worker_children(server: LiveServer) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == server.process.pid and b"hybridjobs.engines.worker" in command:
            found.add(int(entry.name))
    return found


def _wait_terminal(braket: Any, arn: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:  # GetQuantumTask holds until the task is about to finish
        status: str = braket.get_quantum_task(quantumTaskArn=arn)["status"]
        if status in TERMINAL or time.monotonic() >= deadline:
            return status


def test_an_idle_service_holds_one_worker(server: LiveServer) -> None:
    deadline = time.monotonic() + 60
    while not _started(server) and time.monotonic() < deadline:
        time.sleep(0.1)  # the pool starts with the service; no outside signal when

    assert len(_started(server)) == 1, server.log_tail()
    assert _worker_children(server) == set(_started(server))


def test_a_burst_starts_more_workers_up_to_the_maximum(server: LiveServer) -> None:
    braket = server.client("braket", region=REGION)
    before = len(_started(server))

    arns = [create_task(braket, SLOW, shots=10) for _ in range(4)]
    statuses = [_wait_terminal(braket, arn) for arn in arns]

    assert statuses == ["COMPLETED"] * 4
    started = _started(server)
    assert len(started) > before, server.log_tail()
    assert len(_worker_children(server)) <= 3


def test_extra_workers_stop_once_idle_and_the_warm_one_stays(server: LiveServer) -> None:
    braket = server.client("braket", region=REGION)
    arns = [create_task(braket, SLOW, shots=10) for _ in range(3)]
    assert [_wait_terminal(braket, arn) for arn in arns] == ["COMPLETED"] * 3
    assert len(_started(server)) > 1, server.log_tail()

    def shrunk() -> bool:  # the log line follows the worker's exit
        found = WORKER_STOPPED_IDLE.search(server.log_text())
        return len(_worker_children(server)) == 1 and found is not None

    deadline = time.monotonic() + 60
    while not shrunk() and time.monotonic() < deadline:
        time.sleep(0.1)  # the pool's idle check leaves only the log line and /proc to see

    assert len(_worker_children(server)) == 1, server.log_tail()
    assert WORKER_STOPPED_IDLE.search(server.log_text()), server.log_tail()
    # The pool that shrank still runs the next task on its warm worker.
    assert _wait_terminal(braket, create_task(braket, SLOW, shots=10)) == "COMPLETED"
