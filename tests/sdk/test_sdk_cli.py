"""Acceptance: the AWS CLI reads jobs and their logs from the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from braket.aws import AwsQuantumJob
from support.server import LiveServer

from sdk.conftest import LOCAL_DEVICE, REGION, finished, write

AWS = str(Path(sys.executable).parent / "aws")

HELLO = """
print("hello from the CLI test")
print("Metrics - timestamp=1; answer=42;")
"""


def aws(server: LiveServer, *args: str) -> Any:
    """Run ``aws <args> --endpoint-url <server> --output json``; its parsed output."""
    completed = subprocess.run(
        [AWS, *args, "--endpoint-url", server.url, "--region", REGION, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AWS_PAGER": ""},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_cli_search_get_and_log_events(server: LiveServer, user_env: Path) -> None:
    job = AwsQuantumJob.create(
        device=LOCAL_DEVICE, source_module=str(write(user_env / "hello.py", HELLO))
    )
    assert finished(job) == "COMPLETED", job.metadata()

    listed = aws(server, "braket", "search-jobs", "--filters", "[]")
    assert job.arn in [j["jobArn"] for j in listed["jobs"]]

    described = aws(server, "braket", "get-job", "--job-arn", job.arn)
    assert described["status"] == "COMPLETED"
    assert described["jobName"] == job.name

    streams = aws(
        server,
        "logs",
        "describe-log-streams",
        "--log-group-name",
        "/aws/braket/jobs",
        "--log-stream-name-prefix",
        f"{job.name}/{job.arn.split('/')[-1]}",
    )["logStreams"]
    assert len(streams) == 1
    stream = streams[0]["logStreamName"]
    assert stream.startswith(f"{job.name}/{job.arn.split('/')[-1]}/algo-1-")

    events = aws(
        server,
        "logs",
        "get-log-events",
        "--log-group-name",
        "/aws/braket/jobs",
        "--log-stream-name",
        stream,
        "--start-from-head",
    )["events"]
    assert "hello from the CLI test" in [e["message"] for e in events]

    filtered = aws(
        server,
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/aws/braket/jobs",
        "--log-stream-name-prefix",
        f"{job.name}/",
        "--filter-pattern",
        "Metrics",
    )["events"]
    assert [e["message"] for e in filtered] == ["Metrics - timestamp=1; answer=42;"]
    assert filtered[0]["logStreamName"] == stream
