"""Issue 3's figure: 50 Bell jobs queued at once, jobs completed per minute.

``python -m benchmarks burst [--jobs N] [--rounds R]``. Each round, in this order: the
warm pool, then the cold path (each a fresh server with default capacity: 5 concurrent
ml.m5.large jobs on 2 cores), N Bell jobs created together and timed from the first
CreateJob to the last job's end; then the baseline: N fresh ``python`` processes of the
same script, 5 at a time (the same concurrency), each with the whole environment the
service gave one of the cold path's instances in that round (its ``spec.json``), so the
baseline's interpreters start as the instances' do. At least 3 rounds. Writes
``docs/benchmarks-burst.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import BELL_SCRIPT, Server, Stat, load_note, machine, table

CONCURRENCY = 5
MIN_ROUNDS = 3
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-burst.md"
FRESH = "fresh python, 5 at a time"


def burst(server: Server, jobs: int) -> tuple[float, str]:
    """(seconds from the first CreateJob to the last job's end, service clock; the ARN
    of the first job)."""
    uri = server.put_script(BELL_SCRIPT)
    arns = [server.create(uri)[0] for _ in range(jobs)]
    ended = [server.wait(arn, timeout=600) for arn in arns]
    first = min(float(job["createdAt"].timestamp()) for job in ended)
    last = max(float(job["endedAt"].timestamp()) for job in ended)
    return last - first, arns[0]


def fresh_processes(jobs: int, scratch: Path, env: dict[str, str]) -> float:
    """Seconds to run ``jobs`` fresh interpreters of the Bell script with ``env``, 5 at a
    time."""
    script = scratch / "bell.py"
    script.write_text(BELL_SCRIPT)

    def one(_: int) -> None:
        subprocess.run(
            [sys.executable, str(script)], check=True, capture_output=True, env=env, cwd=scratch
        )

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(jobs)))
    return time.monotonic() - started


def measure(jobs: int, rounds: int, scratch: Path) -> dict[str, Stat]:
    """Jobs per minute of each path, ``rounds`` interleaved rounds."""
    per_minute = {"warm pool": Stat(), "cold path": Stat(), FRESH: Stat()}
    for round_index in range(rounds):
        env: dict[str, str] = {}
        for label, warm in (("warm pool", "true"), ("cold path", "false")):
            data_dir = scratch / f"{label[:4]}-{round_index}"
            server = Server(label, data_dir, {"HYBRIDJOBS_WARM_POOL": warm})
            try:
                if warm == "true":
                    server.wait_pool()
                seconds, first_arn = burst(server, jobs)
                if warm == "false":
                    env = server.instance_env(first_arn)
            finally:
                server.stop()
            per_minute[label].add(60 * jobs / seconds)
            print(f"round {round_index + 1}: {label} {60 * jobs / seconds:.0f}/min", flush=True)
        seconds = fresh_processes(jobs, scratch, env)
        per_minute[FRESH].add(60 * jobs / seconds)
        print(f"round {round_index + 1}: fresh {60 * jobs / seconds:.0f}/min", flush=True)
    return per_minute


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks burst")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS} (min/median/max need them)")
    load_before, started = os.getloadavg()[0], time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hj-bench-burst-") as scratch_dir:
        per_minute = measure(args.jobs, args.rounds, Path(scratch_dir))
    wall, load_after = time.monotonic() - started, os.getloadavg()[0]
    rows = [
        [label, f"{s.median:.0f}", f"{s.low:.0f}", f"{s.high:.0f}", str(s.n)]
        for label, s in per_minute.items()
    ]
    about = machine()
    report = "\n".join(
        [
            f"# Burst: {args.jobs} Bell jobs queued at once",
            "",
            f"Produced by `python -m benchmarks burst --jobs {args.jobs} --rounds "
            f"{args.rounds}`; jobs completed per minute, from the first CreateJob to the last "
            "job's end (service clock), default capacity "
            f"({CONCURRENCY} concurrent ml.m5.large jobs on this machine). Baseline: the same "
            f"script as fresh `python` processes, {CONCURRENCY} at a time, in the same run, "
            "with the whole environment the service gave a cold instance in the same round "
            "(its `spec.json`: the host's `PATH`, `HOME`, locale, `PYTHONUNBUFFERED=1`, "
            "`PYTHONDONTWRITEBYTECODE=1`, the job's `AMZN_BRAKET_*`/`SM_*`/AWS variables), "
            f"so both start their interpreters alike. {args.rounds} rounds, each warm pool, "
            "cold path, fresh python in turn (a fresh server per path and round).",
            "",
            f"- when: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
            f"wall time {wall:.0f} s",
            f"- machine: {about['nproc']} CPUs ({about['cpu']}), {about['memory']}, "
            f"Linux {about['kernel']}, Python {about['python']}",
            f"- packages: {about['packages']}",
            f"- load: {load_note(load_before, load_after)}",
            "",
            table(["path", "jobs/min median", "min", "max", "rounds"], rows),
            "",
            "The cold path and the fresh processes both start one interpreter per job that "
            "imports the Braket SDK (about 1.2-2.5 CPU s each, see docs/benchmarks.md): on 2 "
            "cores they are bounded by that CPU, so they should land close together; the "
            "warm pool forks instances from a zygote that already imported the SDK.",
            "",
        ]
    )
    print(report)
    args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
