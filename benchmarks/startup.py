"""Job start-up: the warm pool, the cold path and a fresh ``python`` process, side by side.

Each round runs, one after the other, the Bell job (:data:`~benchmarks.harness.BELL_SCRIPT`)
on the warm-pool server, on the cold server (no pool), and as ``python bell.py`` in a fresh
process with the environment the service gave a cold instance of the same job (read from
its ``spec.json``: the floor of any design that starts a new interpreter per job). Measured from the client's moment of CreateJob (or of spawning the
process): the RUNNING event, the script's first output line (printed after its imports and
the circuit, with the time it was printed), and the COMPLETED event (for the fresh process:
its exit). Then create -> COMPLETED of the same script as a 4-instance job, warm and cold.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING

from benchmarks.harness import BELL_SCRIPT, event_time, mark, stat_row, table

if TYPE_CHECKING:
    from benchmarks.suite import Context


def fresh_process(script: str, cwd: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``python script`` with ``env`` (an instance's whole environment, see
    :meth:`~benchmarks.harness.Server.instance_env`); (spawn -> first line, spawn -> exit,
    CPU seconds until the first line)."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, script], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    ended = time.time()
    moment, cpu = mark(done.stdout)
    return moment - started, ended - started, cpu


def run_startup(context: Context) -> str:
    warm, cold = context.server("warm"), context.server("cold")
    bell = context.work / "bell.py"
    bell.write_text(BELL_SCRIPT)
    uris = {"warm": warm.put_script(BELL_SCRIPT), "cold": cold.put_script(BELL_SCRIPT)}
    servers = {"warm": warm, "cold": cold}
    for name, server in servers.items():  # warm-up: caches, first connections
        for _ in range(2 if name == "warm" else 1):
            arn = server.create(uris[name])[0]
            server.wait(arn)
    env = cold.instance_env(arn)  # the last warm-up job ran on the cold server
    fresh_process(str(bell), str(context.work), env)

    rounds = context.repeats(20, 5)
    for _ in range(rounds):
        for name, server in servers.items():
            arn, created = server.create(uris[name])
            job = server.wait(arn)
            context.figure(f"{name}.running").add(event_time(job, "RUNNING") - created)
            moment, cpu = server.mark(arn)
            context.figure(f"{name}.first_line").add(moment - created)
            context.figure(f"{name}.first_line_cpu").add(cpu)
            context.figure(f"{name}.completed").add(event_time(job, "COMPLETED") - created)
        first_line, whole, cpu = fresh_process(str(bell), str(context.work), env)
        context.figure("fresh.first_line").add(first_line)
        context.figure("fresh.completed").add(whole)
        context.figure("fresh.first_line_cpu").add(cpu)
        f = context.figures
        context.figure("ratio.fresh_over_warm_first_line").add(
            f["fresh.first_line"].samples[-1] / f["warm.first_line"].samples[-1]
        )
        context.figure("cold_minus_fresh.first_line").add(
            f["cold.first_line"].samples[-1] - f["fresh.first_line"].samples[-1]
        )
        context.figure("cold_minus_fresh.first_line_cpu").add(
            f["cold.first_line_cpu"].samples[-1] - f["fresh.first_line_cpu"].samples[-1]
        )

    rounds4 = context.repeats(8, 2)
    for _ in range(rounds4):
        for name, server in servers.items():
            arn, created = server.create(uris[name], instances=4)
            job = server.wait(arn)
            context.figure(f"{name}.completed4").add(event_time(job, "COMPLETED") - created)
            marks = [server.first_mark(arn, f"algo-{i}") for i in range(1, 5)]
            context.figure(f"{name}.first_line4").add(max(marks) - created)

    f = context.figures
    header = ["figure", "path", "median", "min", "max", "n"]
    rows = []
    for figure, label in (
        ("running", "create → RUNNING event"),
        ("first_line", "create → first user line"),
        ("first_line_cpu", "CPU time of the instance process until its first line"),
        ("completed", "create → COMPLETED"),
    ):
        for path in ("warm", "cold", "fresh"):
            key = f"{path}.{figure}"
            if key in f:
                shown = {"warm": "warm pool", "cold": "cold path", "fresh": "fresh `python`"}
                what = label if path != "fresh" else label.replace("create →", "spawn →")
                if path == "fresh" and figure == "completed":
                    what = "spawn → exit"
                rows.append(stat_row([what, shown[path]], f[key]))
    for figure, label in (
        ("first_line4", "4 instances: create → last instance's first line"),
        ("completed4", "4 instances: create → COMPLETED"),
    ):
        for path in ("warm", "cold"):
            rows.append(
                stat_row(
                    [label, "warm pool" if path == "warm" else "cold path"], f[f"{path}.{figure}"]
                )
            )
    ratio = f["ratio.fresh_over_warm_first_line"]
    overhead = f["cold_minus_fresh.first_line"]
    extra_cpu = f["cold_minus_fresh.first_line_cpu"]
    return "\n".join(
        [
            "## 1-2. Job start-up: warm pool, cold path, fresh process",
            "",
            f"Bell job (imports `braket.circuits` and `braket.devices`, runs a Bell circuit "
            f"on `LocalSimulator`, 100 shots, then prints its first line); {rounds} "
            f"interleaved rounds (warm, cold, fresh), {rounds4} for 4 instances. The fresh "
            "`python` runs with the whole environment the service gave a cold instance of "
            "the same job (its `spec.json`), so both interpreters start alike.",
            "",
            table(header, rows, right_from=2),
            "",
            f"Per round: fresh first line ÷ warm first line = {ratio.median:.1f}x "
            f"(min {ratio.low:.1f}x, max {ratio.high:.1f}x); cold first line - fresh first "
            f"line = {overhead.median * 1000:+.0f} ms (min {overhead.low * 1000:+.0f}, "
            f"max {overhead.high * 1000:+.0f}); in CPU time of the instance process "
            f"{extra_cpu.median * 1000:+.0f} ms (min {extra_cpu.low * 1000:+.0f}, "
            f"max {extra_cpu.high * 1000:+.0f}). "
            "A forked instance's CPU time counts from its fork: what the job itself cost.",
        ]
    )
