"""``results`` of a job that saved files but no results.json, and ``metrics`` past one
Logs Insights answer (10,000 lines), through subprocesses against a live service."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

from support.cli import ok
from support.server import LiveServer

FILES_JOB = """
import os
from pathlib import Path

results = Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
(results / "plots").mkdir(parents=True, exist_ok=True)
(results / "plots" / "curve.csv").write_text("x,y\\n" + "1,2\\n" * 100)
(results / "model.bin").write_bytes(b"\\0" * 3000)
print("wrote files")
"""

MANY_METRICS_JOB = """
from braket.jobs.metrics import log_metric

for i in range(12000):
    log_metric("loss", 1.0 / (i + 1), iteration_number=i)
"""


def run_job(server: LiveServer, directory: Path, source: str, stem: str) -> str:
    script = directory / f"{stem}.py"
    script.write_text(textwrap.dedent(source))
    name = f"{stem}-{uuid.uuid4().hex[:10]}"
    ok("run", str(script), "--name", name, endpoint=server.url, timeout=240)
    return name


def test_results_list_the_files_of_a_job_without_results_json(
    server: LiveServer, tmp_path: Path
) -> None:
    name = run_job(server, tmp_path, FILES_JOB, "files")

    shown = ok("results", name, endpoint=server.url).stdout

    assert "saved no results\n" not in shown
    assert f"{name} saved no results.json; 2 file(s) in s3://" in shown
    lines = shown.splitlines()
    assert any(line.split()[:3] == ["model.bin", "2.9", "KiB"] for line in lines), shown
    assert any(line.split()[:3] == ["plots/curve.csv", "404", "B"] for line in lines), shown
    as_json = ok("results", name, "--json", endpoint=server.url)
    assert json.loads(as_json.stdout) == {}
    assert "model.bin" in as_json.stderr and "plots/curve.csv" in as_json.stderr
    target = tmp_path / "out"
    ok("results", name, "--download", str(target), endpoint=server.url)
    assert (target / "model.bin").stat().st_size == 3000


def test_metrics_say_when_truncated_and_all_reads_every_point(
    server: LiveServer, tmp_path: Path
) -> None:
    name = run_job(server, tmp_path, MANY_METRICS_JOB, "many")

    capped = ok("metrics", name, "--json", endpoint=server.url)
    points = json.loads(capped.stdout)
    assert len(points) == 10000
    assert "warning: the metrics query returned its limit of 10000 log lines" in capped.stderr
    assert "--all" in capped.stderr

    every = ok("metrics", name, "--json", "--all", endpoint=server.url)
    points = json.loads(every.stdout)
    assert every.stderr == ""
    assert sorted(p["iteration_number"] for p in points) == list(range(12000))
    assert set(points[0]) == {"name", "value", "instance", "timestamp", "iteration_number"}
    table = ok("metrics", name, "--all", endpoint=server.url).stdout
    assert table.splitlines()[1].split()[:3] == ["loss", "algo-1", "12000"]
