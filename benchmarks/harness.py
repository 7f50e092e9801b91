"""What the job benchmarks share: live servers, job submission, timing, statistics, tables.

Servers are real ``hybridjobs serve`` processes on free loopback ports, each with its own
data directory, started with the benchmark's environment minus any ``HYBRIDJOBS_*``
setting (so a developer's own settings do not change what is measured) plus the
section's overrides. Jobs are submitted with boto3; scripts are dropped straight into the
server's local object directory (``s3://BUCKET/KEY`` is ``DATA_DIR/objects/BUCKET/KEY``).

Times are wall-clock (``time.time()``) on one machine: the client's moment of CreateJob,
the service's event timestamps (GetJob ``timeOfEvent``, millisecond precision), and the
user's first output line, which the benchmark scripts print as ``MARK <time.time()>``.
While a job runs the benchmark reads its status from the service's SQLite file (read-only)
instead of polling GetJob, so waiting costs the service nothing; one GetJob at the end
returns the events.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BUCKET = "bench"
REGION = "us-west-2"
START_SECONDS = 60.0
POOL_READY_SECONDS = 300.0
POLL_SECONDS = 0.02
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})

BELL_SCRIPT = """
import resource, time
from braket.circuits import Circuit
from braket.devices import LocalSimulator
counts = LocalSimulator().run(Circuit().h(0).cnot(0, 1), shots=100).result().measurement_counts
usage = resource.getrusage(resource.RUSAGE_SELF)
print("MARK", time.time(), usage.ru_utime + usage.ru_stime, dict(counts), flush=True)
"""
"""The Bell job of every start-up figure: imports the SDK, runs a Bell circuit on the
LocalSimulator, then prints its first line: ``MARK <time> <CPU seconds of this process>``
(a forked process's CPU time starts at zero at the fork)."""

TRIVIAL_SCRIPT = 'print("MARK", __import__("time").time(), 0.0)\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment minus ``HYBRIDJOBS_*``, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDJOBS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides or {})
    return env


# -- statistics ---------------------------------------------------------------------------


@dataclass
class Stat:
    """Repeated measurements of one figure (seconds, or any unit the caller chooses)."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def n(self) -> int:
        return len(self.samples)


def ms(seconds: float) -> str:
    """A duration in seconds as milliseconds (or seconds when long)."""
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.1f} ms"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    """A markdown table; columns from ``right_from`` on are right-aligned."""
    aligns = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def stat_row(label: Sequence[str], stat: Stat, unit: str = "s") -> list[str]:
    """``label`` cells then median, min, max and n of ``stat``."""
    render = ms if unit == "s" else (lambda v: f"{v:.1f}")
    return [*label, render(stat.median), render(stat.low), render(stat.high), str(stat.n)]


# -- servers ------------------------------------------------------------------------------


class Server:
    """A running ``hybridjobs serve`` with its own data directory."""

    def __init__(
        self, name: str, data_dir: Path, env: Mapping[str, str], log_name: str = "server.log"
    ) -> None:
        self.name = name
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        from hybridjobs.cli.embedded import first_key

        self.key = first_key(json.loads(env.get("HYBRIDJOBS_CREDENTIALS") or "{}"))
        """The key this server verifies signatures with (``None``: it has no keys)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / log_name  # its own name when servers share a data dir
        command = [sys.executable, "-m", "hybridjobs.cli", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(data_dir)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(env),
                start_new_session=True,
            )
        self._database: sqlite3.Connection | None = None
        self._wait_healthy()
        self.braket = braket_client(self.url)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            health = f"{self.url}/_hybridjobs/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2):
                return
            try:
                code: int | None = self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                code = None
            if code is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def status(self, wait: float = 0.0) -> dict[str, Any]:
        """``GET /_hybridjobs/status`` (``wait``: until the warm pool is full, at most),
        signed with the server's first operator key when it has keys configured."""
        from hybridjobs.cli.embedded import fetch_status

        return fetch_status(self.url, wait, self.key, REGION)

    def wait_pool(self) -> dict[str, Any]:
        """Block until the warm pool is full; its status. Raises if it never fills."""
        pool: dict[str, Any] = self.status(POOL_READY_SECONDS)["warm_pool"]
        if not pool.get("enabled") or pool["ready"] < pool["size"]:
            raise RuntimeError(f"{self.name}: warm pool not ready: {pool}\n{self.log_tail()}")
        return pool

    def stop(self) -> None:
        """SIGTERM; SIGKILL to the group if it is still there after 20 s."""
        if self._database is not None:
            self._database.close()
            self._database = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    # -- jobs --

    def put_script(self, source: str, module: str = "bench") -> str:
        """Store ``source`` as ``<module>.py`` in the server's bucket; its ``s3://`` URI."""
        key = f"src/{uuid.uuid4().hex}/{module}.py"
        path = self.data_dir / "objects" / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.tmp")
        staging.write_text(source)
        os.replace(staging, path)
        return f"s3://{BUCKET}/{key}"

    def create(self, script_uri: str, instances: int = 1, client: Any = None) -> tuple[str, float]:
        """CreateJob for the script at ``script_uri``; (ARN, client time just before)."""
        request = {
            "jobName": f"bench-{uuid.uuid4().hex[:12]}",
            "roleArn": "arn:aws:iam::123456789012:role/bench",
            "algorithmSpecification": {
                "scriptModeConfig": {"entryPoint": "bench", "s3Uri": script_uri}
            },
            "outputDataConfig": {"s3Path": f"s3://{BUCKET}/out/{uuid.uuid4().hex}"},
            "instanceConfig": {
                "instanceType": "ml.m5.large",
                "volumeSizeInGb": 30,
                "instanceCount": instances,
            },
            "deviceConfig": {"device": "local:braket/default"},
        }
        started = time.time()
        arn: str = (client or self.braket).create_job(**request)["jobArn"]
        return arn, started

    def status_of(self, arn: str) -> str | None:
        """The job's status, read from the service's SQLite file (read-only: no API load,
        so waiting does not slow down what is measured)."""
        if self._database is None:
            uri = f"file:{self.data_dir / 'hybridjobs.db'}?mode=ro"
            self._database = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        row = self._database.execute("SELECT status FROM jobs WHERE job_arn = ?", (arn,))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def task_status_counts(self) -> dict[str, int]:
        """Quantum tasks per status, read from the service's SQLite file (no API load)."""
        if self._database is None:
            uri = f"file:{self.data_dir / 'hybridjobs.db'}?mode=ro"
            self._database = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        rows = self._database.execute("SELECT status, COUNT(*) FROM quantum_tasks GROUP BY status")
        return {str(status): int(count) for status, count in rows}

    def wait(self, arn: str, timeout: float = 300.0) -> dict[str, Any]:
        """Wait until the job ends (its status read from the service's database every
        20 ms, every 100 ms after the first half second), then one GetJob; that response.
        Raises unless it COMPLETED."""
        started = time.monotonic()
        while self.status_of(arn) not in TERMINAL:
            waited = time.monotonic() - started
            if waited > timeout:
                raise RuntimeError(f"{arn} did not end within {timeout} s")
            time.sleep(POLL_SECONDS if waited < 0.5 else 5 * POLL_SECONDS)
        job: dict[str, Any] = self.braket.get_job(jobArn=arn)
        if job["status"] != "COMPLETED":
            raise RuntimeError(f"{arn} {job['status']}: {job.get('failureReason')}")
        return job

    def job_dir(self, arn: str) -> Path:
        return self.data_dir / "jobs" / arn.rsplit("/", 1)[1]

    def instance_env(self, arn: str, host: str = "algo-1") -> dict[str, str]:
        """The whole environment the service gave the job's instance ``host`` (the ``env``
        of its ``spec.json``, built by ``runners.contract.build_environment``): what a
        baseline process must run with to compare like with like."""
        from hybridjobs.runners.spec import load_instance_spec

        spec = self.job_dir(arn) / "instances" / host / "spec.json"
        return load_instance_spec(spec).env

    def first_mark(self, arn: str, host: str = "algo-1") -> float:
        """The time the job's script printed on its ``MARK`` line (its first line)."""
        return self.mark(arn, host)[0]

    def mark(self, arn: str, host: str = "algo-1") -> tuple[float, float]:
        """(time, process CPU seconds) from the job's ``MARK`` line."""
        log = self.job_dir(arn) / "logs" / f"{host}.log"
        return mark(log.read_text(errors="replace"))


def mark(text: str) -> tuple[float, float]:
    """(time, CPU seconds) of the first ``MARK`` line of ``text``."""
    for line in text.splitlines():
        if line.startswith("MARK "):
            fields = line.split()
            return float(fields[1]), float(fields[2])
    raise RuntimeError(f"no MARK line in:\n{text[-2000:]}")


def first_mark(text: str) -> float:
    """The time on the first ``MARK`` line of ``text``."""
    return mark(text)[0]


def event_time(job: Mapping[str, Any], event_type: str) -> float:
    """The timestamp of the job's first event of ``event_type`` (epoch seconds)."""
    for event in job["events"]:
        if event["eventType"] == event_type:
            moment: float = event["timeOfEvent"].timestamp()
            return moment
    raise RuntimeError(f"no {event_type} event: {[e['eventType'] for e in job['events']]}")


def braket_client(url: str) -> Any:
    """A boto3 braket client with dummy credentials and no retries."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=REGION
    )
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=16)
    return session.client("braket", endpoint_url=url, config=config)


# -- processes ------------------------------------------------------------------------------


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in KiB from ``/proc/PID/smaps_rollup``."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                values[name] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` itself (not its children), from
    ``/proc/PID/stat``; 0.0 when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (not idle or waiting for I/O) since
    boot, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# -- the machine ----------------------------------------------------------------------------

PACKAGES = (
    "hybridjobs",
    "amazon-braket-sdk",
    "amazon-braket-default-simulator",
    "pennylane",
    "pennylane-lightning",
    "numpy",
    "boto3",
    "SQLAlchemy",
    "uvicorn",
    "ray",
)


BUSY_LOAD = 2.0
"""A 1-minute load average above this (on the 2-core project machine) means other work
shared the machine while the figures were taken."""


def load_note(before: float, after: float) -> str:
    """One sentence on the 1-minute load average at the start and end of a run (from
    ``os.getloadavg()``), saying the machine was shared when either exceeds ``BUSY_LOAD``."""
    text = f"1-minute load average {before:.1f} at the start, {after:.1f} at the end"
    if max(before, after) > BUSY_LOAD:
        return (
            f"{text}, on {os.cpu_count()} CPUs: the machine was shared with other work "
            "while these figures were taken, so absolute times and rates are slower, and "
            "spreads wider, than on a quiet machine; ratios taken in the same rounds hold up "
            "better."
        )
    return f"{text}: the machine was otherwise quiet."


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 2**20:.1f} GiB"
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "packages": ", ".join(versions),
    }
