"""Disk used by finished jobs with retention on and off.

``python -m benchmarks disk [--jobs N] [--age-seconds S]`` runs two servers one after the
other (warm pool on, SQLite): ``on`` keeps finished jobs' local files and log lines for
``--age-seconds`` and sweeps every 2 s; ``off`` keeps everything (ages 0). Each runs N
jobs that print 500 lines and leave a 1 MiB scratch file in their working directory, then
waits for one more sweep, and reports the size of ``DATA_DIR/jobs``, the database file,
the log lines stored, and the whole data directory.
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.api_throughput import free_port, make_client, start

SCRIPT = """
import pathlib
pathlib.Path("scratch.bin").write_bytes(bytes(2**20))
for i in range(500):
    print(f"line {i} of a job that logs", flush=False)
"""


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _run(workdir: Path, name: str, jobs: int, age_days: float) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = workdir / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDJOBS_")}
    env.update(
        {
            "HYBRIDJOBS_RETENTION_JOB_FILES_DAYS": str(age_days),
            "HYBRIDJOBS_RETENTION_LOGS_DAYS": str(age_days),
            "HYBRIDJOBS_RETENTION_SWEEP_SECONDS": "2",
            "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
            "HYBRIDJOBS_TASK_WORKERS_PRESTART": "false",
        }
    )
    command = [sys.executable, "-m", "hybridjobs.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data)]
    server = start(name, command, f"{url}/_hybridjobs/health", url, workdir, env)
    try:
        s3, braket = make_client("s3", url), make_client("braket", url)
        s3.create_bucket(
            Bucket="disk", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
        s3.put_object(Bucket="disk", Key="src/job.py", Body=SCRIPT.encode())
        began = time.monotonic()
        arns = []
        for index in range(jobs):
            arns.append(
                braket.create_job(
                    jobName=f"disk-{index}",
                    roleArn="arn:aws:iam::000000000000:role/r",
                    algorithmSpecification={
                        "scriptModeConfig": {"entryPoint": "job", "s3Uri": "s3://disk/src/job.py"}
                    },
                    outputDataConfig={"s3Path": "s3://disk/out"},
                    instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
                    deviceConfig={"device": "local:braket/default"},
                )["jobArn"]
            )
        pending = set(arns)
        while pending:
            for arn in list(pending):
                if braket.get_job(jobArn=arn)["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                    pending.discard(arn)
            time.sleep(0.5)
        ran = time.monotonic() - began
        time.sleep(age_days * 86400 + 5 if age_days else 5)  # past the age, then a sweep
        with sqlite3.connect(data / "hybridjobs.db") as connection:
            lines = connection.execute("SELECT count(*) FROM log_events").fetchone()[0]
            failed = connection.execute(
                "SELECT count(*) FROM jobs WHERE status != 'COMPLETED'"
            ).fetchone()[0]
        return {
            "jobs": jobs,
            "not completed": failed,
            "seconds": ran,
            "jobs dir MiB": _size(data / "jobs") / 2**20,
            "database MiB": sum(p.stat().st_size for p in data.glob("hybridjobs.db*")) / 2**20,
            "log lines stored": lines,
            "data dir MiB": _size(data) / 2**20,
        }
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks disk")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--age-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hj-bench-disk-") as tmp:
        rows = {
            "retention on": _run(Path(tmp), "on", args.jobs, args.age_seconds / 86400),
            "retention off": _run(Path(tmp), "off", args.jobs, 0.0),
        }
    out = io.StringIO()
    keys = list(next(iter(rows.values())))
    out.write("| | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys) + "\n")
    for name, row in rows.items():
        out.write(f"| {name} | " + " | ".join(f"{row[k]:.1f}" for k in keys) + " |\n")
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
