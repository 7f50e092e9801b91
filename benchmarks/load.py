"""Load: jobs completed per second (section 3) and API requests per second (section 4).

Throughput: a fresh server per configuration; after a short warm-up, 200 trivial jobs
(``print`` of one line) are created as fast as 8 client threads can, and the figure is
200 / (last job's end - first job's creation), both from the service's own records (read
from its SQLite file, read-only, so waiting adds no API load).

API: a server with the scheduler off (nothing runs the jobs) takes CreateJob, GetJob (with
``QueueInfo``, as the SDK asks) and SearchJobs (``maxResults`` 10) from 8 client
processes at once, each with its own boto3 client; every phase runs for a fixed time,
all clients starting together; each operation is measured in several rounds.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from benchmarks.harness import TRIVIAL_SCRIPT, Server, Stat, braket_client, cpu_seconds, table

if TYPE_CHECKING:
    from benchmarks.suite import Context

JOBS = 200
CLIENTS = 8
RAISED_CAPACITY = {"HYBRIDJOBS_CAPACITY_VCPUS": "400", "HYBRIDJOBS_CAPACITY_MEMORY_GIB": "1600"}
"""Room for 200 ml.m5.large jobs at once (2 vCPU, 8 GiB each)."""


def _finished(server: Server, since: float) -> tuple[int, float, float]:
    """(jobs ended, first creation, last end) of the jobs created at or after ``since``."""
    database = server.data_dir / "hybridjobs.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        row = connection.execute(
            "SELECT count(ended_at), min(created_at), max(ended_at), "
            "sum(status != 'COMPLETED' AND ended_at IS NOT NULL) FROM jobs WHERE created_at >= ?",
            (since,),
        ).fetchone()
    ended, first, last, failed = row
    if failed:
        raise RuntimeError(f"{failed} throughput job(s) did not complete")
    return int(ended), float(first or 0.0), float(last or 0.0)


def jobs_per_second(server: Server, jobs: int = JOBS) -> float:
    """Queue ``jobs`` trivial jobs at once; jobs completed per second (service clock)."""
    uri = server.put_script(TRIVIAL_SCRIPT)
    for _ in range(3):
        server.wait(server.create(uri)[0])
    clients = threading.local()

    def create(_: int) -> float:
        if not hasattr(clients, "braket"):
            clients.braket = braket_client(server.url)
        return server.create(uri, client=clients.braket)[1]

    since = time.time() - 0.001
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(create, range(jobs)))
    deadline = time.monotonic() + 600
    while True:
        ended, first, last = _finished(server, since)
        if ended >= jobs:
            return jobs / (last - first)
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {ended} of {jobs} jobs ended within 600 s")
        time.sleep(0.1)


def run_throughput(context: Context) -> str:
    configurations = [
        ("warm pool, default capacity", {"HYBRIDJOBS_WARM_POOL": "true"}, 3, 1),
        (
            "warm pool, capacity for 200 jobs",
            {"HYBRIDJOBS_WARM_POOL": "true", **RAISED_CAPACITY},
            3,
            1,
        ),
        ("cold path, default capacity", {"HYBRIDJOBS_WARM_POOL": "false"}, 2, 1),
    ]
    rows = []
    for index, (label, env, full, quick) in enumerate(configurations):
        runs = context.repeats(full, quick)
        stat = context.figure(f"throughput.{index}")
        for run in range(runs):
            server = Server(f"throughput-{index}-{run}", context.work / f"tp-{index}-{run}", env)
            try:
                if env["HYBRIDJOBS_WARM_POOL"] == "true":
                    server.wait_pool()
                stat.add(jobs_per_second(server))
            finally:
                server.stop()
        rows.append(
            [label, f"{stat.median:.1f}", f"{stat.low:.1f}", f"{stat.high:.1f}", str(stat.n)]
        )
    context.figures["throughput.default"] = context.figures["throughput.0"]
    context.figures["throughput.raised"] = context.figures["throughput.1"]
    cpus = multiprocessing.cpu_count()
    context.notes.append(
        f"Throughput: the default capacity is 5 vCPUs per core ({5 * cpus} here) and twice "
        "the physical memory, i.e. 5 concurrent ml.m5.large jobs on this machine; the raised "
        "run sets HYBRIDJOBS_CAPACITY_VCPUS=400 and HYBRIDJOBS_CAPACITY_MEMORY_GIB=1600 "
        "(every job admitted at once)."
    )
    return "\n".join(
        [
            "## 3. Throughput: 200 trivial jobs queued at once",
            "",
            f"Jobs completed per second = {JOBS} / (last end - first creation), service "
            "clock; a fresh server per run, 8 client threads creating.",
            "",
            table(["configuration", "jobs/s median", "min", "max", "runs"], rows),
        ]
    )


# -- API --------------------------------------------------------------------------------------


_CLIENT: list[Any] = []
"""The worker process's boto3 client (made once, by the pool's initializer)."""


def _connect(url: str) -> None:
    _CLIENT.append(braket_client(url))


def _api_worker(operation: str, target: str, start_at: float, seconds: float) -> list[float]:
    """One client process's phase: call ``operation`` from ``start_at`` for ``seconds``;
    the latency of each call."""
    call = _operation(_CLIENT[0], operation, target)
    call()  # outside the measured window
    while time.time() < start_at:
        time.sleep(0.001)
    latencies: list[float] = []
    end = start_at + seconds
    while True:
        began = time.perf_counter()
        if time.time() >= end:
            return latencies
        call()
        latencies.append(time.perf_counter() - began)


def _operation(client: Any, operation: str, target: str) -> Any:
    from benchmarks.harness import BUCKET

    request = {
        "jobName": "bench-api",
        "roleArn": "arn:aws:iam::123456789012:role/bench",
        "algorithmSpecification": {
            "scriptModeConfig": {"entryPoint": "bench", "s3Uri": f"s3://{BUCKET}/api.py"}
        },
        "outputDataConfig": {"s3Path": f"s3://{BUCKET}/out"},
        "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
        "deviceConfig": {"device": "local:braket/default"},
    }
    if operation == "CreateJob":
        return lambda: client.create_job(**request)
    if operation == "GetJob":
        return lambda: client.get_job(jobArn=target, additionalAttributeNames=["QueueInfo"])
    if operation == "SearchJobs":
        return lambda: client.search_jobs(filters=[], maxResults=10)
    raise ValueError(operation)


def run_api(context: Context) -> str:
    server = Server(
        "api",
        context.work / "api",
        {"HYBRIDJOBS_RUN_SCHEDULER": "false", "HYBRIDJOBS_WARM_POOL": "false"},
    )
    rounds = context.repeats(3, 1)
    seconds = 2.0
    rows = []
    try:
        target = server.create(server.put_script(TRIVIAL_SCRIPT))[0]
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(CLIENTS, initializer=_connect, initargs=(server.url,)) as pool:
            pool.starmap(_api_worker, [("GetJob", target, 0.0, 0.2)] * CLIENTS * 2)  # warm-up
            for operation in ("CreateJob", "GetJob", "SearchJobs"):
                rates, latencies, server_cpu = Stat(), list[float](), 0.0
                for _ in range(rounds):
                    start_at = time.time() + 0.5  # every worker is up: it did the warm-up
                    args = [(operation, target, start_at, seconds)] * CLIENTS
                    pending = pool.starmap_async(_api_worker, args)
                    time.sleep(max(0.0, start_at - time.time()))
                    before = cpu_seconds(server.process.pid)
                    time.sleep(seconds)
                    server_cpu += cpu_seconds(server.process.pid) - before
                    results = pending.get(timeout=120)
                    calls = [latency for worker in results for latency in worker]
                    rates.add(len(calls) / seconds)
                    latencies.extend(calls)
                if not latencies:
                    raise RuntimeError(f"no {operation} call completed")
                latencies.sort()
                p50 = statistics.median(latencies)
                p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
                context.figures[f"api.{operation}"] = rates
                rows.append(
                    [
                        operation,
                        f"{rates.median:.0f}",
                        f"{rates.low:.0f}",
                        f"{rates.high:.0f}",
                        f"{p50 * 1000:.1f}",
                        f"{p99 * 1000:.1f}",
                        f"{server_cpu * 1000 / len(latencies):.2f}",
                        str(len(latencies)),
                    ]
                )
    finally:
        server.stop()
    return "\n".join(
        [
            "## 4. API: requests per second from 8 client processes",
            "",
            f"One `hybridjobs serve` (uvicorn, httptools parser, uvloop event loop, one "
            f"process), scheduler off, SQLite; {rounds} round(s) of {seconds:.0f} s per "
            f"operation, all {CLIENTS} clients together, this server alone; p50/p99 over every "
            "call of every round; server CPU ms/req is the server process's CPU time over the "
            "measured windows per request answered (from /proc), the figure that depends "
            "least on what else the machine runs. docs/benchmarks-api.md measures CreateJob "
            "and GetJob again against moto, with the same 8 client processes but in 1.25 s "
            "windows interleaved with moto's: where the two pages' req/s differ, compare the "
            "server CPU per request, which depends far less on the window and on the "
            "machine's other work.",
            "",
            table(
                [
                    "operation",
                    "req/s median",
                    "min",
                    "max",
                    "p50 ms",
                    "p99 ms",
                    "server CPU ms/req",
                    "calls",
                ],
                rows,
            ),
        ]
    )
