"""The peer to beat: the same Bell job submitted to Ray Jobs, round by round with the warm pool.

Starts a local Ray head (``ray start --head --num-cpus 2 --include-dashboard true
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
    BELL_SCRIPT,
    clean_env,
    event_time,
    first_mark,
    free_port,
    stat_row,
    table,
)

if TYPE_CHECKING:
    from benchmarks.suite import Context

TITLE = "## 5. Ray Jobs, the peer: the same Bell job"


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
        """Live processes of this head: their command line names its temporary directory."""
        tag = str(self.temp_dir).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if tag in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
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


def run_ray(context: Context) -> str:
    if not ray_installed():
        context.notes.append(
            "Ray Jobs: skipped (ray not installed; pip install 'hybridjobs[bench]')."
        )
        return f"{TITLE}\n\nskipped (ray not installed)"
    warm = context.server("warm")
    bell = context.work / "bell.py"
    bell.write_text(BELL_SCRIPT)
    uri = warm.put_script(BELL_SCRIPT)
    head = RayHead(context.work)
    try:
        entrypoint = f"{sys.executable} {bell}"
        for _ in range(2):  # warm-up, discarded
            head.run(entrypoint)
        rounds = context.repeats(10, 3)
        for _ in range(rounds):
            ended, seen, first_line = head.run(entrypoint)
            context.figure("ray.completed").add(ended)
            context.figure("ray.seen").add(seen)
            context.figure("ray.first_line").add(first_line)
            arn, created = warm.create(uri)
            job = warm.wait(arn)
            completed = event_time(job, "COMPLETED") - created
            context.figure("ray_round.warm_completed").add(completed)
            context.figure("ratio.ray_over_warm_completed").add(ended / completed)
    finally:
        stop_seconds = head.stop()
    left = head.processes()
    if left:
        context.notes.append(f"Ray: processes left after stopping the head: {left}")
    f = context.figures
    rows = [
        stat_row(["submit → SUCCEEDED (Ray's end time)", "Ray Jobs"], f["ray.completed"]),
        stat_row(["submit → SUCCEEDED seen by the client", "Ray Jobs"], f["ray.seen"]),
        stat_row(["submit → first user line", "Ray Jobs"], f["ray.first_line"]),
        stat_row(
            ["create → COMPLETED (same rounds)", "hybridjobs warm pool"],
            f["ray_round.warm_completed"],
        ),
    ]
    ratio = f["ratio.ray_over_warm_completed"]
    return "\n".join(
        [
            TITLE,
            "",
            f"Local Ray head (`ray start --head --num-cpus 2 --include-dashboard true "
            f"--dashboard-host 127.0.0.1 --disable-usage-stats`: {head.start_seconds:.1f} s to "
            f"start, {stop_seconds:.1f} s to stop); entrypoint `python bell.py`; 2 warm-up "
            f"jobs, then {ratio.n} rounds of one Ray job and one hybridjobs job.",
            "",
            table(["figure", "system", "median", "min", "max", "n"], rows, right_from=2),
            "",
            f"Per round: Ray submit → SUCCEEDED ÷ hybridjobs create → COMPLETED = "
            f"{ratio.median:.1f}x (min {ratio.low:.1f}x, max {ratio.high:.1f}x).",
        ]
    )
