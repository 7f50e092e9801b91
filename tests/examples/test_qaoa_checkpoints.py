"""examples/qaoa_checkpoints: a second job resumes from the first one's checkpoints."""

from __future__ import annotations

import uuid
from pathlib import Path

from support.cli import EXAMPLES, job_of, ok, saved_results
from support.server import LiveServer

from hybridjobs.cli.client import Connection
from hybridjobs.cli.metrics import fetch_metrics

SCRIPT = str(EXAMPLES / "qaoa_checkpoints" / "qaoa.py")


def test_the_second_job_starts_where_the_first_stopped(server: LiveServer, tmp_path: Path) -> None:
    first, second = (f"qaoa-{part}-{uuid.uuid4().hex[:8]}" for part in ("one", "two"))
    common = ("--entry-point", "qaoa:main")
    ok("run", SCRIPT, *common, "--hp", "iterations=3", "--name", first, endpoint=server.url)
    before = saved_results(first, server.url, tmp_path / first)
    assert before["start_iteration"] == 0 and before["resumed_from"] is None
    assert len(before["history"]) == 3

    uri = job_of(first, server.url)["checkpointConfig"]["s3Uri"]
    run = ok(
        "run",
        SCRIPT,
        *common,
        "--hp",
        "iterations=5",
        "--checkpoint-uri",
        uri,
        "--name",
        second,
        endpoint=server.url,
    )
    assert f"resuming from the checkpoint of {first} at iteration 3" in run.stdout
    after = saved_results(second, server.url, tmp_path / second)
    assert after["start_iteration"] == 3 and after["resumed_from"] == first
    assert after["history"][:3] == before["history"]
    assert len(after["history"]) == 5
    assert after["history"][-1] > before["history"][0]  # the ascent goes on

    points = fetch_metrics(Connection(server.url, "us-east-1"), job_of(second, server.url))
    assert sorted(p.iteration_number or 0 for p in points) == [4, 5]
