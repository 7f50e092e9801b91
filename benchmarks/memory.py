"""Memory: the idle service, its zygotes, and each running instance (forked vs cold).

Resident set size (RSS) counts every page a process maps, so pages a forked instance still
shares with its zygote (the imported SDK) count in full for each; proportional set size
(PSS, from ``/proc/PID/smaps_rollup``) divides each shared page among its sharers, which is
the honest per-instance cost. Instances: one 4-instance job whose script imports the SDK,
runs a Bell circuit, prints its first line and sleeps; measured once every instance has
printed, then cancelled.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from typing import TYPE_CHECKING

from benchmarks.harness import Server, children_of, memory_kib, table

if TYPE_CHECKING:
    from benchmarks.suite import Context

SLEEPER = """
import time
from braket.circuits import Circuit
from braket.devices import LocalSimulator
LocalSimulator().run(Circuit().h(0).cnot(0, 1), shots=100).result()
print("MARK", time.time(), flush=True)
time.sleep(600)
"""
INSTANCES = 4


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def _medians(sample: list[tuple[int, int]]) -> tuple[float, float]:
    """Median RSS and median PSS of ``(RSS, PSS)`` pairs."""
    return (
        float(statistics.median(s[0] for s in sample)),
        float(statistics.median(s[1] for s in sample)),
    )


def _instance_pids(server: Server, arn: str) -> list[int]:
    database = server.data_dir / "hybridjobs.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        (state,) = connection.execute(
            "SELECT runner_state FROM jobs WHERE job_arn = ?", (arn,)
        ).fetchone()
    return [int(i["pid"]) for i in json.loads(state).get("instances", [])]


def _running_instances(server: Server) -> list[tuple[int, int]]:
    """(RSS, PSS) in KiB of each instance of a running 4-instance SDK job."""
    arn, _ = server.create(server.put_script(SLEEPER), instances=INSTANCES)
    logs = [server.job_dir(arn) / "logs" / f"algo-{i}.log" for i in range(1, INSTANCES + 1)]
    deadline = time.monotonic() + 300
    while not all(log.exists() and "MARK " in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline:
            raise RuntimeError("the memory job's instances did not start")
        time.sleep(0.05)
    try:
        return [memory_kib(pid) for pid in _instance_pids(server, arn)]
    finally:
        server.braket.cancel_job(jobArn=arn)
        while server.braket.get_job(jobArn=arn)["status"] != "CANCELLED":
            time.sleep(0.05)


def run_memory(context: Context) -> str:
    warm, cold = context.server("warm"), context.server("cold")
    pool = warm.status()["warm_pool"]
    rows = []
    for label, server in (("service with warm pool", warm), ("service without pool", cold)):
        server_rss, server_pss = memory_kib(server.process.pid)
        rows.append([f"idle {label} (server process)", mib(server_rss), mib(server_pss), "1"])
    zygotes = [memory_kib(z["pid"]) for z in pool["zygotes"]]
    embryos = [memory_kib(c) for z in pool["zygotes"] for c in children_of(z["pid"])]
    for label, sample in (("zygote", zygotes), ("embryo (pre-forked, idle)", embryos)):
        if sample:
            rss, pss = _medians(sample)
            rows.append([f"each {label}", mib(rss), mib(pss), str(len(sample))])
    pool_pss = sum(s[1] for s in zygotes + embryos)
    context.figure("memory.pool_pss_mib").add(pool_pss / 1024)
    for label, server in (("forked (warm pool)", warm), ("cold", cold)):
        sample = _running_instances(server)
        rss, pss = _medians(sample)
        context.figure(f"memory.instance_pss_mib.{label.split()[0]}").add(pss / 1024)
        rows.append([f"running instance, {label}", mib(rss), mib(pss), str(len(sample))])
    return "\n".join(
        [
            "## 6. Memory",
            "",
            f"Per-process medians. The warm pool ({len(zygotes)} zygotes with their embryos) "
            f"costs {pool_pss / 1024:.0f} MiB PSS in all; a running instance imported the "
            "Braket SDK and ran a Bell circuit (4-instance job, all 4 measured).",
            "",
            table(["process", "RSS", "PSS", "n"], rows),
        ]
    )
