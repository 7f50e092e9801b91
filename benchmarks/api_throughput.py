"""API throughput: hybridjobs' Braket Jobs API against moto's SageMaker training jobs.

Starts both servers on free loopback ports (ours: SQLite, scheduler off) and drives them
with ``--clients`` client processes (each with its own boto3 clients, so the client side is
not limited by one GIL). Comparable operations:

- write: our CreateJob vs moto's SageMaker CreateTrainingJob;
- read: our GetJob (with ``additionalAttributeNames=["QueueInfo"]``, as the Braket SDK sends
  it) vs moto's DescribeTrainingJob, each of one job created beforehand.

The machine is small and shared, so the servers are measured interleaved, not one after the
other: each of ``--rounds`` rounds runs every (server, operation) phase for ``--warmup`` +
``--duration`` seconds, all clients together. Prints a markdown table (requests/s, p50/p99
latency, ours/moto ratio) and writes it with a machine description to
``docs/benchmarks-api.md``. Usage::

    python -m benchmarks api [--clients 8] [--rounds 4] [--warmup 0.25] [--duration 1.25]

The HTTP servers differ, and the page says so (:data:`SERVERS`): ours is uvicorn with the
httptools parser on a uvloop event loop (one process, one event loop); moto's is Werkzeug's
development server (``run_simple(threaded=True)``: a thread per connection, the standard
library's ``http.server`` parser) in front of a Flask app per service (one process).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from benchmarks.harness import load_note

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "benchmarks-api.md"
REGION = "us-west-2"
START_DEADLINE_SECONDS = 30.0

OURS_ENV = {
    "HYBRIDJOBS_RUN_SCHEDULER": "false",
    "HYBRIDJOBS_WARM_POOL": "false",
}

CREATE_JOB: dict[str, Any] = {
    "jobName": "bench",
    "roleArn": "arn:aws:iam::123456789012:role/bench",
    "algorithmSpecification": {
        "scriptModeConfig": {"entryPoint": "algo:main", "s3Uri": "s3://bench/source.tar.gz"}
    },
    "outputDataConfig": {"s3Path": "s3://bench/output"},
    "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
    "deviceConfig": {"device": "local:braket/default"},
    "hyperParameters": {"shots": "100"},
}

CREATE_TRAINING_JOB: dict[str, Any] = {
    "AlgorithmSpecification": {
        "TrainingImage": "123456789012.dkr.ecr.us-west-2.amazonaws.com/bench:latest",
        "TrainingInputMode": "File",
    },
    "RoleArn": "arn:aws:iam::123456789012:role/bench",
    "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "HyperParameters": {"shots": "100"},
}


SERVERS = {
    "hybridjobs": "`hybridjobs serve`: uvicorn {uvicorn} with the httptools {httptools} "
    "parser on a uvloop {uvloop} event loop (one process, one event loop), Starlette "
    "{starlette}, SQLite (WAL), scheduler off",
    "moto": "`python -m moto.server`: Werkzeug {Werkzeug} development server "
    "(`run_simple(threaded=True)`: one thread per connection, the standard library's "
    "`http.server` request parsing) in front of moto's Flask {Flask} app (one process, "
    "state in memory)",
}
"""Each side's HTTP stack, with the versions installed (see :func:`server_stacks`)."""


# -- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> int:
        """SIGTERM, then SIGKILL of the whole group after 10 s; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, with an error: it is up
    except OSError:
        return False


def start(
    name: str, command: list[str], ready_url: str, url: str, workdir: Path, env: dict[str, str]
) -> RunningServer:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    server = RunningServer(name, url, process, log_path)
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while not _answers(ready_url):
        try:
            code = process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not start:\n{log_path.read_text()[-3000:]}")
    return server


def start_ours(workdir: Path) -> RunningServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A developer's own HYBRIDJOBS_* settings must not change what is measured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDJOBS_")}
    command = [sys.executable, "-m", "hybridjobs.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(workdir / "hybridjobs")]
    return start(
        "hybridjobs", command, f"{url}/_hybridjobs/health", url, workdir, {**env, **OURS_ENV}
    )


def start_moto(workdir: Path) -> RunningServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start("moto", command, f"{url}/moto-api/", url, workdir, dict(os.environ))


# -- clients ------------------------------------------------------------------------------


def make_client(service: str, url: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=REGION
    )
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=4)
    return session.client(service, endpoint_url=url, config=config)


def call(client: Any, operation: str, target: str) -> None:
    if operation == "CreateJob":
        client.create_job(**CREATE_JOB)  # botocore fills a fresh clientToken
    elif operation == "GetJob":
        client.get_job(jobArn=target, additionalAttributeNames=["QueueInfo"])
    elif operation == "CreateTrainingJob":
        client.create_training_job(
            TrainingJobName=f"bench-{uuid.uuid4().hex}", **CREATE_TRAINING_JOB
        )
    elif operation == "DescribeTrainingJob":
        client.describe_training_job(TrainingJobName=target)
    else:
        raise ValueError(operation)


@dataclass(frozen=True)
class Phase:
    server: str  # "hybridjobs" or "moto"
    operation: str
    target: str = ""


SERVICE_OF = {"hybridjobs": "braket", "moto": "sagemaker"}


@dataclass
class PhaseResult:
    server: str
    operation: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server process used while measured
    client_cpu: float = 0.0  # CPU seconds all client processes used while measured
    rates: list[float] = field(default_factory=list)  # req/s of each round (merged only)


def worker(
    urls: dict[str, str],
    phases: list[Phase],
    barrier: Barrier,
    warmup: float,
    duration: float,
    results: Any,
) -> None:
    """One client process: for each phase, wait for the others, warm up, then measure."""
    clients = {server: make_client(SERVICE_OF[server], url) for server, url in urls.items()}
    out: list[PhaseResult] = []
    for phase in phases:
        client = clients[phase.server]
        barrier.wait(timeout=120)
        result = PhaseResult(phase.server, phase.operation)
        begin = time.monotonic()
        measure_from, end = begin + warmup, begin + warmup + duration
        while (now := time.monotonic()) < end:
            started = time.perf_counter()
            try:
                call(client, phase.operation, phase.target)
            except Exception:
                result.errors += 1
                continue
            if now >= measure_from:
                result.latencies.append(time.perf_counter() - started)
        out.append(result)
    results.put(out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    servers: dict[str, RunningServer],
    phases: list[Phase],
    clients: int,
    warmup: float,
    duration: float,
) -> list[PhaseResult]:
    """Run ``phases`` in order with ``clients`` processes; one merged result per
    (server, operation), over all the phases that ran it. This process joins each phase
    to read the server's CPU time at the start and end of the measured window."""
    urls = {name: server.url for name, server in servers.items()}
    merged: dict[tuple[str, str], PhaseResult] = {}
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(clients + 1)
    queue = context.Queue()
    processes = [
        context.Process(target=worker, args=(urls, phases, barrier, warmup, duration, queue))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    timeout = 120 + len(phases) * (warmup + duration)
    try:
        for phase in phases:
            pid = servers[phase.server].process.pid
            client_pids = [p.pid for p in processes if p.pid is not None]
            barrier.wait(timeout=120)
            time.sleep(warmup)
            before = cpu_seconds(pid)
            clients_before = sum(cpu_seconds(p) for p in client_pids)
            time.sleep(duration)
            total = merged.setdefault(
                (phase.server, phase.operation), PhaseResult(phase.server, phase.operation)
            )
            total.server_cpu += cpu_seconds(pid) - before
            total.client_cpu += sum(cpu_seconds(p) for p in client_pids) - clients_before
            total.seconds += duration
        per_client = [queue.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    for results in per_client:
        for result in results:
            total = merged[(result.server, result.operation)]
            total.latencies.extend(result.latencies)
            total.errors += result.errors
    for index, phase in enumerate(phases):  # each client's results follow ``phases``
        answered = sum(len(results[index].latencies) for results in per_client)
        merged[(phase.server, phase.operation)].rates.append(answered / duration)
    return list(merged.values())


# -- report -------------------------------------------------------------------------------


@dataclass
class Row:
    server: str
    operation: str
    requests: int
    errors: int
    per_second: float
    rate_min: float  # req/s of the slowest round
    rate_median: float
    rate_max: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # server CPU per request
    client_cpu_ms: float  # client CPU per request (all client processes)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def row(result: PhaseResult) -> Row:
    values = sorted(result.latencies)
    return Row(
        result.server,
        result.operation,
        len(values),
        result.errors,
        len(values) / result.seconds,
        min(result.rates, default=float("nan")),
        statistics.median(result.rates) if result.rates else float("nan"),
        max(result.rates, default=float("nan")),
        percentile(values, 0.50) * 1000,
        percentile(values, 0.99) * 1000,
        result.server_cpu * 1000 / len(values) if values else float("nan"),
        result.client_cpu * 1000 / len(values) if values else float("nan"),
    )


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"{nproc or os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def versions() -> str:
    from importlib.metadata import version

    names = [
        "boto3",
        "botocore",
        "moto",
        "uvicorn",
        "httptools",
        "uvloop",
        "starlette",
        "SQLAlchemy",
        "Werkzeug",
        "Flask",
    ]
    found = []
    for name in names:
        with contextlib.suppress(Exception):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def server_stacks() -> dict[str, str]:
    """:data:`SERVERS` with the installed versions filled in."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["uvicorn", "httptools", "uvloop", "starlette", "Werkzeug", "Flask"]
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "(not installed)"
    return {server: text.format(**found) for server, text in SERVERS.items()}


def report(rows: list[Row], clients: int, rounds: int, warmup: float, duration: float) -> str:
    lines = [
        "| server | operation | requests | errors | req/s | per round: median | min | max "
        "| p50 ms | p99 ms | server CPU ms/req | client CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.server} | {r.operation} | {r.requests} | {r.errors} | {r.per_second:.0f} "
        f"| {r.rate_median:.0f} | {r.rate_min:.0f} | {r.rate_max:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.cpu_ms:.2f} | {r.client_cpu_ms:.2f} |"
        for r in rows
    ]
    by_op = {r.operation: r for r in rows}
    pairs = [("CreateJob", "CreateTrainingJob"), ("GetJob", "DescribeTrainingJob")]
    lines += [
        "",
        "| ours vs moto | ours req/s | moto req/s | throughput ours/moto "
        "| p50 latency ours/moto | server CPU per request moto/ours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mine, theirs in pairs:
        a, b = by_op[mine], by_op[theirs]
        lines.append(
            f"| {mine} vs {theirs} | {a.per_second:.0f} | {b.per_second:.0f} "
            f"| {a.per_second / b.per_second:.2f}x | {a.p50_ms / b.p50_ms:.2f} "
            f"| {b.cpu_ms / a.cpu_ms:.2f}x |"
        )
    setup = (
        f"{clients} client processes (one boto3 client per server each, no retries); "
        f"{rounds} interleaved rounds, each phase {warmup:g} s warm-up + {duration:g} s "
        f"measured, so {rounds * duration:g} s measured per operation; servers and clients on "
        "127.0.0.1 of the same machine. "
        f"HTTP servers: hybridjobs: {server_stacks()['hybridjobs']}; GetJob asks for "
        f"QueueInfo. moto: {server_stacks()['moto']}. A thread per connection under the "
        "GIL against one event loop is part of what the ratios measure: the comparison is "
        "of the two services as shipped, not of their request handlers alone. "
        "Server CPU ms/req is the server "
        "process's user+system CPU time over the measured windows (from /proc) divided by "
        "the requests answered: unlike req/s it barely depends on what else the machine runs. "
        "Client CPU ms/req is the same for the boto3 client processes: where clients and "
        "server share few cores, req/s is bounded by the sum of the two. "
        "docs/benchmarks.md section 4 measures our CreateJob alone (no moto phases between), "
        "with the same 8 client processes in 2 s windows: its req/s and this page's differ "
        "by the window, the rounds and the machine's load at the time; the server CPU per "
        "request is the figure to compare across the two pages."
    )
    return "\n".join(lines) + "\n\n" + setup + "\n"


def write_doc(path: Path, table: str, load: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    path.write_text(
        "# API throughput: hybridjobs vs moto\n\n"
        "Produced by `python -m benchmarks api` (benchmarks/api_throughput.py); rerun it to "
        "refresh this page. The machine is shared and noisy: compare ratios taken in one run, "
        "not absolute numbers across runs.\n\n"
        f"- when: {stamp}\n- machine: {machine()}\n- versions: {versions()}\n"
        f"- load: {load}\n\n" + table
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks api", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=0.25)
    parser.add_argument("--duration", type=float, default=1.25)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    began, load_before = time.monotonic(), os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="hj-bench-api-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        servers = {"hybridjobs": start_ours(workdir), "moto": start_moto(workdir)}
        for server in servers.values():
            stack.callback(server.stop)
        urls = {name: server.url for name, server in servers.items()}
        job_arn = make_client("braket", urls["hybridjobs"]).create_job(**CREATE_JOB)["jobArn"]
        training_job = f"bench-target-{uuid.uuid4().hex[:8]}"
        make_client("sagemaker", urls["moto"]).create_training_job(
            TrainingJobName=training_job, **CREATE_TRAINING_JOB
        )
        one_round = [
            Phase("hybridjobs", "CreateJob"),
            Phase("moto", "CreateTrainingJob"),
            Phase("hybridjobs", "GetJob", job_arn),
            Phase("moto", "DescribeTrainingJob", training_job),
        ]
        results = drive(servers, one_round * args.rounds, args.clients, args.warmup, args.duration)
    order = {(p.server, p.operation): i for i, p in enumerate(one_round)}
    rows = [row(r) for r in sorted(results, key=lambda r: order[(r.server, r.operation)])]
    rows.sort(key=lambda r: r.server != "hybridjobs")
    table = report(rows, args.clients, args.rounds, args.warmup, args.duration)
    print(table)
    write_doc(args.out, table, load_note(load_before, os.getloadavg()[0]))
    print(f"wrote {args.out} ({time.monotonic() - began:.0f} s)")
    return 1 if any(r.errors for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
