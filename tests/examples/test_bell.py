"""examples/bell: the smallest job runs through the service and saves its counts."""

from __future__ import annotations

import uuid
from pathlib import Path

from support.cli import EXAMPLES, ok, saved_results
from support.server import LiveServer


def test_bell_counts_only_00_and_11(server: LiveServer, tmp_path: Path) -> None:
    name = f"bell-{uuid.uuid4().hex[:10]}"
    run = ok(
        "run",
        str(EXAMPLES / "bell" / "bell.py"),
        "--entry-point",
        "bell:main",
        "--hp",
        "shots=200",
        "--name",
        name,
        endpoint=server.url,
    )
    assert "COMPLETED in" in run.stdout
    results = saved_results(name, server.url, tmp_path / name)
    counts = results["measurement_counts"]
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 200
    assert results["shots"] == 200
    assert results["device"] == "local:braket/braket.local.qubit"
