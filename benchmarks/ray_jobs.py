"""A local Ray head for the Ray Jobs comparison (:mod:`benchmarks.peer` runs the rounds).

:class:`RayHead` starts a local Ray head (``ray start --head --num-cpus 2 --include-dashboard true
--dashboard-host 127.0.0.1 --disable-usage-stats``, on free ports and its own temporary
directory), submits ``python bell.py`` with ``JobSubmissionClient`` and polls its status
every 20 ms, as the hybridjobs client polls GetJob. Submit -> SUCCEEDED uses Ray's own
``end_time``, as hybridjobs' figure uses its COMPLETED event. At the end it stops exactly
the processes it started (never ``ray stop``, which would stop every Ray on the machine).
Ray is an optional dependency of the benchmark only (``pip install 'hybridjobs[bench]'``);
without it the section says so and is skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness import (
    clean_env,
    first_mark,
    free_port,
)

if TYPE_CHECKING:
    pass


def ray_installed() -> bool:
    try:
        import ray.job_submission  # noqa: F401
    except ImportError:
        return False
    return True


class RayHead:
    """A local Ray head started for the benchmark, and stopped by it."""

    def __init__(self, work: Path) -> None:
        # Ray's socket paths must stay short: a temporary directory of its own under /tmp.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="hjray-", dir="/tmp"))
        self.dashboard_port = free_port()
        self.log_path = work / "ray-start.log"
        ray = str(Path(sys.executable).with_name("ray"))
        command = [
            ray, "start", "--head", "--num-cpus", "2", "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
            "--port", str(free_port()), "--disable-usage-stats", "--temp-dir", str(self.temp_dir),
        ]  # fmt: skip
        env = clean_env({"RAY_USAGE_STATS_ENABLED": "0"})
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.starter = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.start_seconds = time.monotonic() - started
        if self.starter.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed:\n{self.log_path.read_text()[-3000:]}")
        from ray.job_submission import JobSubmissionClient

        self.client = JobSubmissionClient(f"http://127.0.0.1:{self.dashboard_port}")

    def processes(self) -> list[int]:
        """Live processes of this head: their command line names its temporary directory,
        or (Ray's agents rename themselves ``ray::…``) they hold a file open under it."""
        tag, prefix = str(self.temp_dir).encode(), str(self.temp_dir) + "/"
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if tag in (entry / "cmdline").read_bytes() or any(
                    os.readlink(fd).startswith(prefix) for fd in (entry / "fd").iterdir()
                ):
                    found.append(int(entry.name))
        return found

    def stop(self) -> float:
        """SIGTERM every process of this head, SIGKILL what is left after 15 s; seconds."""
        started = time.monotonic()
        for signum, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            deadline = time.monotonic() + grace
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return time.monotonic() - started

    def run(self, entrypoint: str) -> tuple[float, float, float]:
        """Submit and wait; (submit -> SUCCEEDED by Ray's end time, submit -> seen
        SUCCEEDED by the client, submit -> first line) in seconds."""
        from ray.job_submission import JobStatus

        submitted = time.time()
        job_id = self.client.submit_job(entrypoint=entrypoint)
        while True:
            status = self.client.get_job_status(job_id)
            if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
                break
            time.sleep(0.02)
        seen = time.time()
        if status != JobStatus.SUCCEEDED:
            logs = self.client.get_job_logs(job_id)
            raise RuntimeError(f"Ray job {job_id} {status}:\n{logs[-2000:]}")
        info: Any = self.client.get_job_info(job_id)
        printed = first_mark(self.client.get_job_logs(job_id))
        return info.end_time / 1000 - submitted, seen - submitted, printed - submitted
