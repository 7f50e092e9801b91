"""Idle memory of ``hybridjobs serve``: the server process, its children, and the total.

``python -m benchmarks.idle_memory [--starts 3] [--jobs 3] [--tasks 2] [--only NAMES]``
(also ``python -m benchmarks idle_memory ...``) starts a fresh ``hybridjobs serve`` (SQLite
in a temporary data directory, a free loopback port, the environment minus any
``HYBRIDJOBS_*`` setting) in each configuration, interleaved start by start:

- ``default``: nothing set (warm pool of 2 zygotes, one task worker — more start while
  all are busy — and the task validator loaded with the service);
- ``no-warm-pool``: ``HYBRIDJOBS_WARM_POOL=false`` (``--no-warm-pool``);
- ``lean``: ``--no-warm-pool`` and ``HYBRIDJOBS_TASK_WORKERS_PRESTART=false`` (task workers
  and the task validator are loaded at the first quantum task, not at start).

Each server is measured twice, idle: once after start-up, and once more after ``--jobs``
Bell jobs (:data:`~benchmarks.harness.BELL_SCRIPT`, one at a time) and ``--tasks`` Bell
quantum tasks on SV1 (boto3's braket client, one at a time) have completed.

Idle means: the health check answers, the warm pool is full (``/_hybridjobs/status?wait=``),
and then the process tree has settled: over 2 s (sampled every 0.2 s), the same processes,
their summed RSS within 1 MiB, and at most a tenth of one CPU used by all of them (the
service's background warm-ups give no outside signal when they are done, so settling is
what can be observed). Memory is read from
``/proc/PID/smaps_rollup``: RSS counts every resident page a process maps; PSS divides
each shared page among the processes sharing it, so PSS adds up across processes and
"total" is the server's PSS plus every descendant's. Also printed: the client-side latency
of the first CreateQuantumTask of each server (in ``lean`` it includes loading the task
validator), and from that call until the task was COMPLETED (it ran in the one task worker
started with the service; in ``lean`` the worker starts for it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    BELL_SCRIPT,
    BUCKET,
    TERMINAL,
    Server,
    children_of,
    clean_env,
    cpu_seconds,
    load_note,
    machine,
    memory_kib,
    table,
)

CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "no-warm-pool": {"HYBRIDJOBS_WARM_POOL": "false"},
    "lean": {"HYBRIDJOBS_WARM_POOL": "false", "HYBRIDJOBS_TASK_WORKERS_PRESTART": "false"},
}
"""Configuration name -> the ``HYBRIDJOBS_*`` settings its server starts with."""

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
BELL_PROGRAM = json.dumps(
    {
        "braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
        "source": "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\n"
        "b[0] = measure q[0];\nb[1] = measure q[1];",
        "inputs": {},
    }
)
LADDER = (
    "asyncio",
    "pydantic_settings",
    "sqlalchemy.orm",
    "botocore.session",
    "uvicorn",
    "prometheus_client",
    "braket.device_schema",
    "hybridjobs.server",
    "hybridjobs.cli",
    "build_service",
    "numpy",
    "scipy.linalg",
    "sympy",
    "numba",
    "braket.default_simulator",
    "validate",
)
"""The steps of :data:`LADDER_SCRIPT`: modules imported in this order (each with what it
imports that is not loaded yet), then the service built (``lean`` settings, scheduler off),
then what the task validator's warm-up loads, then one validation."""
LADDER_SCRIPT = """
import importlib, json, sys, tempfile
def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
print(json.dumps(["interpreter", rss(), len(sys.modules)]), flush=True)
for step in sys.argv[1:]:
    if step == "build_service":
        from hybridjobs.server import build_service
        from hybridjobs.settings import Settings
        service = build_service(Settings(data_dir=tempfile.mkdtemp(), warm_pool=False,
                                         run_scheduler=False, task_workers_prestart=False))
    elif step == "validate":
        from hybridjobs.serviceparts import SV1_ARN, _validate_task, device_catalog
        from hybridjobs.engines.base import EngineRequest
        device = device_catalog(service.settings).get(SV1_ARN)
        bell = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program",
                           "version": "1"}, "source": "OPENQASM 3.0;\\nqubit[2] q;\\nh q[0];"
                           "\\ncnot q[0], q[1];", "inputs": {}})
        _validate_task(EngineRequest("ladder", device.arn, device.engine, bell, shots=100,
                                     device_capabilities=device.capabilities_json))
    else:
        importlib.import_module(step)
    print(json.dumps([step, rss(), len(sys.modules)]), flush=True)
"""
"""Prints ``[step, RSS KiB, modules loaded]`` after each step named in ``sys.argv``."""
SETTLE_SECONDS = 2.0
SETTLE_SAMPLE_SECONDS = 0.2
SETTLE_TOLERANCE_KIB = 1024
SETTLE_CPU_SHARE = 0.1
SETTLE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Snapshot:
    """Memory of one server's process tree at one moment, in KiB."""

    server_rss: int
    server_pss: int
    children_rss: int
    children_pss: int
    children: int
    threads: int
    settled: bool

    @property
    def total_pss(self) -> int:
        return self.server_pss + self.children_pss


@dataclass
class Samples:
    """Every snapshot and first-task latency of one configuration, per phase."""

    snapshots: dict[str, list[Snapshot]] = field(default_factory=dict)
    first_task_seconds: list[float] = field(default_factory=list)
    first_task_done_seconds: list[float] = field(default_factory=list)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (zygotes, their pre-forked embryos, task workers,
    running instances), depth first."""
    found: list[int] = []
    for child in children_of(pid):
        found.append(child)
        found.extend(descendants(child))
    return found


def threads_of(pid: int) -> int:
    """The number of OS threads of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/task"))


def snapshot(pid: int, settled: bool = True) -> Snapshot:
    """Memory of ``pid`` and of its descendants now (one that exits meanwhile is skipped)."""
    server_rss, server_pss = memory_kib(pid)
    rss = pss = count = 0
    for child in descendants(pid):
        try:
            child_rss, child_pss = memory_kib(child)
        except (OSError, KeyError):
            continue
        rss, pss, count = rss + child_rss, pss + child_pss, count + 1
    return Snapshot(server_rss, server_pss, rss, pss, count, threads_of(pid), settled)


def settled_snapshot(pid: int) -> Snapshot:
    """A snapshot once, for :data:`SETTLE_SECONDS`, the tree has kept the same processes,
    its summed RSS has stayed within :data:`SETTLE_TOLERANCE_KIB` and it has used at most
    :data:`SETTLE_CPU_SHARE` of one CPU (an import in progress uses all of one); taken
    anyway, with ``settled=False``, after :data:`SETTLE_TIMEOUT_SECONDS`."""
    window = int(SETTLE_SECONDS / SETTLE_SAMPLE_SECONDS) + 1
    history: list[tuple[frozenset[int], int, float, float]] = []
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        tree = [pid, *descendants(pid)]
        total, cpu = 0, 0.0
        for member in tree:
            try:
                total += memory_kib(member)[0]
            except (OSError, KeyError):
                continue
            cpu += cpu_seconds(member)
        history = [*history[-(window - 1) :], (frozenset(tree), total, cpu, time.monotonic())]
        if len(history) == window:
            sizes = [size for _, size, _, _ in history]
            first, last = history[0], history[-1]
            if (
                len({pids for pids, _, _, _ in history}) == 1
                and max(sizes) - min(sizes) <= SETTLE_TOLERANCE_KIB
                and last[2] - first[2] <= SETTLE_CPU_SHARE * (last[3] - first[3])
            ):
                return snapshot(pid)
        time.sleep(SETTLE_SAMPLE_SECONDS)  # no event says "idle": sample until it holds
    return snapshot(pid, settled=False)


def wait_ready(server: Server) -> None:
    """Until the warm pool (when enabled) is full; ``Server`` already waited for health."""
    pool = server.status(0)["warm_pool"]
    if pool.get("enabled"):
        server.wait_pool()


def run_task(server: Server) -> tuple[float, float]:
    """One Bell quantum task on SV1, waited for; the CreateQuantumTask call's latency, and
    the seconds from the call until GetQuantumTask said COMPLETED."""
    started = time.perf_counter()
    arn: str = server.braket.create_quantum_task(
        clientToken=str(uuid.uuid4()),
        deviceArn=SV1,
        shots=100,
        outputS3Bucket=BUCKET,
        outputS3KeyPrefix="idle-memory",
        action=BELL_PROGRAM,
    )["quantumTaskArn"]
    latency = time.perf_counter() - started
    while True:  # GetQuantumTask holds until the task is about to finish
        status = server.braket.get_quantum_task(quantumTaskArn=arn)["status"]
        if status in TERMINAL:
            break
    if status != "COMPLETED":
        raise RuntimeError(f"quantum task {arn} ended {status}")
    return latency, time.perf_counter() - started


def measure_start(name: str, work: Path, jobs: int, tasks: int, samples: Samples) -> None:
    """Start one server in configuration ``name``; snapshot it idle, run the jobs and
    tasks, snapshot it idle again; stop it."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    server = Server(name, data_dir, CONFIGS[name])
    try:
        wait_ready(server)
        samples.snapshots.setdefault("idle after start", []).append(
            settled_snapshot(server.process.pid)
        )
        script = server.put_script(BELL_SCRIPT)  # also makes the bucket tasks write to
        for _ in range(jobs):
            server.wait(server.create(script)[0])
        for index in range(tasks):
            latency, done = run_task(server)
            if index == 0:
                samples.first_task_seconds.append(latency)
                samples.first_task_done_seconds.append(done)
        wait_ready(server)
        phase = f"idle after {jobs} jobs + {tasks} tasks"
        samples.snapshots.setdefault(phase, []).append(settled_snapshot(server.process.pid))
    finally:
        server.stop()


def import_ladder() -> str:
    """RSS of a fresh interpreter after each step of :data:`LADDER` (markdown table):
    where the server process's own memory goes. Earlier steps load shared dependencies,
    so each step's figure is what it adds on top of the steps before it."""
    done = subprocess.run(
        [sys.executable, "-c", LADDER_SCRIPT, *LADDER],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    rows, previous = [], 0
    for line in done.stdout.splitlines():
        step, kib, modules = json.loads(line)
        rows.append([step, f"{kib / 1024:.1f}", f"{(kib - previous) / 1024:+.1f}", str(modules)])
        previous = kib
    return table(["step", "RSS MiB", "added", "modules loaded"], rows)


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def spread(values: Sequence[float], render: Any = mib) -> str:
    """``median (min-max)`` of ``values`` rendered with ``render``."""
    middle = statistics.median(values)
    return f"{render(middle)} ({render(min(values))}-{render(max(values))})"


def report(results: dict[str, Samples], starts: int) -> str:
    """The figures as a markdown table, medians with min-max, in MiB."""
    header = [
        "configuration",
        "phase",
        "server RSS",
        "server PSS",
        "children (n)",
        "children PSS",
        "total PSS",
        "server threads",
    ]
    rows = []
    unsettled = 0
    for name, samples in results.items():
        for phase, shots in samples.snapshots.items():
            unsettled += sum(not s.settled for s in shots)
            rows.append(
                [
                    name,
                    phase,
                    spread([s.server_rss for s in shots]),
                    spread([s.server_pss for s in shots]),
                    str(int(statistics.median(s.children for s in shots))),
                    spread([s.children_pss for s in shots]),
                    spread([s.total_pss for s in shots]),
                    str(int(statistics.median(s.threads for s in shots))),
                ]
            )
    lines = [
        f"Idle memory of `hybridjobs serve`, MiB: median (min-max) over {starts} starts per "
        "configuration. total PSS = server PSS + every descendant's PSS.",
        "",
        table(header, rows, right_from=2),
        "",
    ]
    for name, samples in results.items():
        if samples.first_task_seconds:
            lines.append(
                f"- {name}: first CreateQuantumTask "
                f"{spread(samples.first_task_seconds, lambda s: f'{s * 1000:.0f} ms')}, "
                "create to COMPLETED "
                f"{spread(samples.first_task_done_seconds, lambda s: f'{s * 1000:.0f} ms')}"
            )
    if unsettled:
        lines.append(f"- {unsettled} snapshot(s) taken before the tree settled (timeout)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks idle_memory", description=__doc__)
    parser.add_argument("--starts", type=int, default=3, help="server starts per configuration")
    parser.add_argument("--jobs", type=int, default=3, help="Bell jobs run before re-measuring")
    parser.add_argument("--tasks", type=int, default=2, help="Bell quantum tasks run too")
    parser.add_argument(
        "--only", default=",".join(CONFIGS), help=f"configurations, of {', '.join(CONFIGS)}"
    )
    parser.add_argument(
        "--imports",
        action="store_true",
        help="instead: RSS of a fresh interpreter after each import step of the server",
    )
    args = parser.parse_args(argv)
    if args.imports:
        print(import_ladder())
        return 0
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    results = {name: Samples() for name in names}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hj-bench-idle-") as tmp:
        for _ in range(args.starts):
            for name in names:
                measure_start(name, Path(tmp), args.jobs, args.tasks, results[name])
    print(report(results, args.starts))
    print(f"\n{load_note(load_before, os.getloadavg()[0])}")
    described = machine()
    print(f"{described['nproc']} CPUs, {described['cpu']}, {described['memory']}")
    print(described["packages"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
