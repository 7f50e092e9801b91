"""PostgreSQL LISTEN/NOTIFY: a scheduler in another process hears of new jobs and cancel
requests at once (the poll interval is only the fallback)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs.conftest import JOBS_SERVER_ENV, ServerPool, event_types
from support.jobs import create_job_request
from support.postgres import create_schema
from support.server import server_env

from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus, utcnow
from hybridjobs.store.notify import JobNotificationListener
from hybridjobs.store.sql import SqlJobStore

NOTIFY_SECONDS = 10.0


class Wakes:
    """Counts calls; ``wait(n)`` blocks until ``n`` have happened."""

    def __init__(self) -> None:
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait(self, n: int, timeout: float = NOTIFY_SECONDS) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= n, timeout)


@pytest.fixture
def pg_schema(pg_url: str) -> str:
    """A fresh schema of the session's PostgreSQL database (a URL that uses only it)."""
    return create_schema(pg_url)


def _job(name: str) -> Job:
    now = utcnow()
    definition = create_job_request(jobName=name)
    return Job(
        job_arn=f"arn:aws:braket:us-east-1:000000000000:job/{name}",
        job_id=name,
        account_id="000000000000",
        region="us-east-1",
        job_name=name,
        status=JobStatus.QUEUED,
        device="local:braket/default",
        instance_type="ml.m5.large",
        instance_count=1,
        definition=definition,
        created_at=now,
    )


def test_listener_hears_created_and_cancelled_jobs(pg_schema: str) -> None:
    store = SqlJobStore(pg_schema)
    wakes = Wakes()
    listener = JobNotificationListener(pg_schema, wakes)
    listener.start()
    try:
        assert listener.wait_listening(NOTIFY_SECONDS)
        assert wakes.wait(1), "a (re)connected listener wakes its scheduler once"
        job, _ = store.create_job(
            _job("notified"),
            JobEvent(JobEventType.QUEUED_FOR_EXECUTION, utcnow(), "queued"),
            {},
            None,
        )
        assert wakes.wait(2), "no wake-up for the new job"
        store.transition(job.job_arn, JobStatus.RUNNING, expected=[JobStatus.QUEUED])
        store.transition(job.job_arn, JobStatus.CANCELLING, expected=[JobStatus.RUNNING])
        assert wakes.wait(3), "no wake-up for the cancel request"
        assert listener.received == 2
    finally:
        listener.stop()
        store.close()


@pytest.fixture
def scheduler_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Scheduler processes a test starts; each must stop cleanly on SIGTERM."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError("the scheduler did not stop within 20 s") from None
        assert process.returncode == 0, process.returncode


def test_separate_scheduler_wakes_on_notify_not_on_its_poll(
    pg_schema: str, tmp_path: Path, scheduler_processes: list[subprocess.Popen[bytes]]
) -> None:
    """The scheduler polls every 300 s; once it is idle, each job created through another
    process's API runs within seconds because the insert's NOTIFY wakes it."""
    servers = ServerPool(lambda: tmp_path / "api")
    try:
        api = servers.start(extra_args=("--no-scheduler", "--db-url", pg_schema))
        env = server_env(
            {
                **JOBS_SERVER_ENV,
                "HYBRIDJOBS_PORT": str(api.server.port),
                "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "300",
            }
        )
        command = [sys.executable, "-m", "hybridjobs.cli", "scheduler"]
        with (api.data_dir / "scheduler.log").open("ab") as log:
            scheduler_processes.append(
                subprocess.Popen(
                    [*command, "--data-dir", str(api.data_dir), "--db-url", pg_schema],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
        first = api.create("print('first')")
        api.wait(first, ["COMPLETED"], timeout=120)  # the scheduler is up and idle now
        for _ in range(2):
            arn = api.create("print('woken')")
            job = api.wait(arn, ["COMPLETED"], timeout=30)
            assert event_types(job)[-1] == "COMPLETED"
    finally:
        for process in scheduler_processes:
            process.terminate()
        servers.close()
