"""What the access log and the Prometheus metrics cost an API request.

``python -m benchmarks observability [--clients 4] [--rounds 4] [--duration 1.25]``
starts three hybridjobs servers (SQLite, scheduler off), identical but for:

- ``full``: the defaults, metrics and one access-log line per request (to a file);
- ``metrics``: metrics only (``HYBRIDJOBS_ACCESS_LOG=false``);
- ``off``: neither (``HYBRIDJOBS_ACCESS_LOG=false HYBRIDJOBS_METRICS=false``);

and drives CreateJob and GetJob against each, interleaved round by round (the machine is
shared: servers measured one after the other would see different neighbours), with
``--clients`` boto3 client processes. Prints requests/s, p50 latency and the server's CPU
time per request, the steadiest of the three on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.api_throughput import (
    CREATE_JOB,
    call,
    cpu_seconds,
    free_port,
    make_client,
    percentile,
    start,
)

VARIANTS: dict[str, dict[str, str]] = {
    "full": {},
    "metrics": {"HYBRIDJOBS_ACCESS_LOG": "false"},
    "off": {"HYBRIDJOBS_ACCESS_LOG": "false", "HYBRIDJOBS_METRICS": "false"},
}
OPERATIONS = ("CreateJob", "GetJob")


def _worker(
    urls: dict[str, str],
    targets: dict[str, str],
    phases: list[tuple[str, str]],
    barrier: Any,
    warmup: float,
    duration: float,
    results: Any,
) -> None:
    clients = {name: make_client("braket", url) for name, url in urls.items()}
    out: list[tuple[str, str, list[float]]] = []
    for variant, operation in phases:
        barrier.wait(timeout=120)
        latencies: list[float] = []
        begin = time.monotonic()
        while (now := time.monotonic()) < begin + warmup + duration:
            started = time.perf_counter()
            call(clients[variant], operation, targets[variant])
            if now >= begin + warmup:
                latencies.append(time.perf_counter() - started)
        out.append((variant, operation, latencies))
    results.put(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks observability")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=0.25)
    parser.add_argument("--duration", type=float, default=1.25)
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDJOBS_")}
    base.update({"HYBRIDJOBS_RUN_SCHEDULER": "false", "HYBRIDJOBS_WARM_POOL": "false"})
    with (
        tempfile.TemporaryDirectory(prefix="hj-bench-obs-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        servers = {}
        for name, env in VARIANTS.items():
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "hybridjobs.cli", "serve", "--port", str(port)]
            command += ["--data-dir", str(Path(tmp) / name)]
            server = start(
                name, command, f"{url}/_hybridjobs/health", url, Path(tmp), {**base, **env}
            )
            stack.callback(server.stop)
            servers[name] = server
        urls = {name: server.url for name, server in servers.items()}
        targets = {
            name: make_client("braket", url).create_job(**CREATE_JOB)["jobArn"]
            for name, url in urls.items()
        }
        phases = [
            (variant, operation)
            for _ in range(args.rounds)
            for operation in OPERATIONS
            for variant in VARIANTS
        ]
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(args.clients + 1)
        queue = context.Queue()
        workers = [
            context.Process(
                target=_worker,
                args=(urls, targets, phases, barrier, args.warmup, args.duration, queue),
            )
            for _ in range(args.clients)
        ]
        for process in workers:
            process.start()
        cpu: dict[tuple[str, str], float] = {}
        for variant, operation in phases:
            barrier.wait(timeout=120)
            time.sleep(args.warmup)
            before = cpu_seconds(servers[variant].process.pid)
            time.sleep(args.duration)
            key = (variant, operation)
            cpu[key] = cpu.get(key, 0.0) + cpu_seconds(servers[variant].process.pid) - before
        latencies: dict[tuple[str, str], list[float]] = {}
        for _ in workers:
            for variant, operation, values in queue.get(timeout=300):
                latencies.setdefault((variant, operation), []).extend(values)
        for process in workers:
            process.join(timeout=10)
    measured = args.rounds * args.duration
    print("| variant | operation | requests | req/s | p50 ms | server CPU ms/req |")
    print("|---|---|---:|---:|---:|---:|")
    for operation in OPERATIONS:
        for variant in VARIANTS:
            values = sorted(latencies[(variant, operation)])
            count = len(values)
            print(
                f"| {variant} | {operation} | {count} | {count / measured:.0f} "
                f"| {percentile(values, 0.5) * 1000:.2f} "
                f"| {cpu[(variant, operation)] * 1000 / max(count, 1):.3f} |"
            )
    print(
        f"\n{args.clients} client processes, {args.rounds} interleaved rounds of "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per phase."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
