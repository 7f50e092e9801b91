"""Issue 3's figure: 50 Bell jobs queued at once, jobs completed per minute.

``python -m benchmarks burst [--jobs N] [--rounds R]``. For the cold path and the warm
pool (default capacity: 5 concurrent ml.m5.large jobs on 2 cores), N Bell jobs are
created together and timed from the first CreateJob to the last COMPLETED; the baseline,
in the same run, is N fresh ``python`` processes of the same script run 5 at a time (the
same concurrency). Writes ``docs/benchmarks-burst.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import BELL_SCRIPT, Server, Stat, machine, table

CONCURRENCY = 5
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-burst.md"


def burst(server: Server, jobs: int) -> float:
    """Seconds from the first CreateJob to the last job's end, service clock."""
    uri = server.put_script(BELL_SCRIPT)
    arns = [server.create(uri)[0] for _ in range(jobs)]
    ended = [server.wait(arn, timeout=600) for arn in arns]
    first = min(float(job["createdAt"].timestamp()) for job in ended)
    last = max(float(job["endedAt"].timestamp()) for job in ended)
    return last - first


def fresh_processes(jobs: int, scratch: Path) -> float:
    """Seconds to run ``jobs`` fresh interpreters of the Bell script, 5 at a time."""
    script = scratch / "bell.py"
    script.write_text(BELL_SCRIPT)

    def one(_: int) -> None:
        subprocess.run([sys.executable, str(script)], check=True, capture_output=True)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(jobs)))
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks burst")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    per_minute = {"warm pool": Stat(), "cold path": Stat(), "fresh python, 5 at a time": Stat()}
    with tempfile.TemporaryDirectory(prefix="hj-bench-burst-") as scratch_dir:
        scratch = Path(scratch_dir)
        for round_index in range(args.rounds):
            for label, warm in (("warm pool", "true"), ("cold path", "false")):
                server = Server(
                    label, scratch / f"{label[:4]}-{round_index}", {"HYBRIDJOBS_WARM_POOL": warm}
                )
                try:
                    if warm == "true":
                        server.wait_pool()
                    seconds = burst(server, args.jobs)
                finally:
                    server.stop()
                per_minute[label].add(60 * args.jobs / seconds)
            seconds = fresh_processes(args.jobs, scratch)
            per_minute["fresh python, 5 at a time"].add(60 * args.jobs / seconds)
    rows = [
        [label, f"{s.median:.0f}", f"{s.low:.0f}", f"{s.high:.0f}", str(s.n)]
        for label, s in per_minute.items()
    ]
    report = "\n".join(
        [
            f"# Burst: {args.jobs} Bell jobs queued at once",
            "",
            "Produced by `python -m benchmarks burst`; jobs completed per minute, from the "
            "first CreateJob to the last job's end (service clock), default capacity "
            f"({CONCURRENCY} concurrent ml.m5.large jobs on this machine). Baseline: the same "
            f"script as fresh `python` processes, {CONCURRENCY} at a time, in the same run.",
            "",
            "- machine: {nproc} CPUs ({cpu}), {memory}, Python {python}".format(**machine()),
            "",
            table(["path", "jobs/min median", "min", "max", "rounds"], rows),
            "",
        ]
    )
    print(report)
    OUTPUT.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
