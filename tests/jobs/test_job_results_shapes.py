"""Results and metrics of odd shapes: instances whose results clash, symlinks in the
results directory, empty directories, and NaN or infinite metrics (issue 16)."""

from __future__ import annotations

import io
import json
import math
import tarfile
from pathlib import Path
from typing import Any

import pytest
from support.braket import point_sdk_at
from support.cli import ok

from jobs.conftest import JobKit

REGION = "us-west-2"

CLASHING_JOB = """
import os
from pathlib import Path

from braket.jobs import save_job_result

results = Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
host = os.environ["SM_CURRENT_HOST"]
if host == "algo-1":
    (results / "model" / "x").mkdir(parents=True)
    (results / "model" / "x" / "y.txt").write_text("y of algo-1")
    (results / "z").write_text("z of algo-1")
    save_job_result({"host": host})
else:
    (results / "model").mkdir()
    (results / "model" / "x").write_text("x of algo-2")
    (results / "z" / "w").mkdir(parents=True)
    (results / "z" / "w" / "v.txt").write_text("v of algo-2")
    (results / "only-2.txt").write_text("from algo-2")
print("wrote results on", host, flush=True)
"""

SYMLINK_JOB = """
import os
from pathlib import Path

from braket.jobs import save_job_result

results = Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
outputs = results.parent / "outputs"
outputs.mkdir()
(outputs / "model.bin").write_bytes(b"weights")
(results / "model.bin").symlink_to(outputs / "model.bin")
(results / "hostname").symlink_to("/etc/hostname")
(results / "empty" / "dir").mkdir(parents=True)
save_job_result({"linked": True})
"""

NAN_JOB = """
from braket.jobs import save_job_result
from braket.jobs.metrics import log_metric

for iteration, value in enumerate([0.5, float("nan"), float("inf"), float("-inf"), 0.25]):
    log_metric(metric_name="loss", value=value, iteration_number=iteration)
save_job_result({"done": True})
"""


def _archive(jobs: JobKit, job: dict[str, Any]) -> dict[str, bytes | None]:
    """Members of the job's model.tar.gz (None for a directory), after checking it holds
    only files and directories, each name once, and extracts with the data filter."""
    data = jobs.results_path(job).read_bytes()
    members: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar.getmembers():
            assert info.name not in members, f"{info.name} twice"
            assert info.isfile() or info.isdir(), info.name
            extracted = tar.extractfile(info) if info.isfile() else None
            members[info.name] = extracted.read() if extracted is not None else None
    return members


def _log_lines(jobs: JobKit, arn: str, host: str) -> list[str]:
    return [e.message for e in jobs.store.list_log_events(arn, host)]


def test_clashing_results_of_two_instances_complete_and_extract(
    jobs: JobKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = jobs.run_ok(
        CLASHING_JOB,
        instanceConfig={"instanceCount": 2},
        timeout=90,
    )
    members = _archive(jobs, job)
    assert json.loads(members["results.json"] or b"")["dataDictionary"] == {"host": "algo-1"}
    assert members["model/x/y.txt"] == b"y of algo-1"  # algo-1's directory beats a file
    assert members["z"] == b"z of algo-1"  # algo-1's file beats a directory
    assert members["only-2.txt"] == b"from algo-2"
    assert "z/w/v.txt" not in members and members["model/x"] is None
    algo2 = "\n".join(_log_lines(jobs, job["jobArn"], "algo-2"))
    assert "model.tar.gz leaves out model/x of the results directory" in algo2
    assert "model.tar.gz leaves out z of the results directory" in algo2

    from braket.aws import AwsQuantumJob

    point_sdk_at(monkeypatch, jobs.server.url, REGION, tmp_path)
    sdk_job = AwsQuantumJob(job["jobArn"])
    assert sdk_job.result() == {"host": "algo-1"}
    sdk_job.download_result(extract_to=str(tmp_path / "downloaded"))
    extracted = tmp_path / "downloaded" / job["jobName"]
    assert (extracted / "model" / "x" / "y.txt").read_text() == "y of algo-1"

    cli_dir = tmp_path / "cli"
    ok(
        "results",
        job["jobArn"],
        "--download",
        str(cli_dir),
        endpoint=jobs.server.url,
        env={"AWS_REGION": REGION},
    )
    found = {p.relative_to(cli_dir).as_posix() for p in cli_dir.rglob("*") if p.is_file()}
    assert {"results.json", "model/x/y.txt", "z", "only-2.txt"} <= {
        name.rpartition(f"{job['jobName']}/")[2] for name in found
    }


def test_symlinks_inside_are_packed_outside_reported_empty_dirs_kept(jobs: JobKit) -> None:
    job = jobs.run_ok(SYMLINK_JOB, timeout=60)
    members = _archive(jobs, job)
    assert members["model.bin"] == b"weights"
    assert members["empty"] is None and members["empty/dir"] is None
    assert "hostname" not in members
    assert json.loads(members["results.json"] or b"")["dataDictionary"] == {"linked": True}
    lines = _log_lines(jobs, job["jobArn"], "algo-1")
    assert any("leaves out hostname" in line and "/etc/hostname" in line for line in lines), lines


def test_nan_and_infinite_metrics_do_not_fail_a_job(
    jobs: JobKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = jobs.run_ok(NAN_JOB, timeout=60)
    assert jobs.results_json(job)["dataDictionary"] == {"done": True}

    stored = jobs.store.list_metrics(job["jobArn"])
    assert [(m.name, m.iteration_number) for m in stored] == [("loss", i) for i in range(5)]
    values = [m.value for m in stored]
    assert values[0] == 0.5 and math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf, 0.25]

    from braket.aws import AwsQuantumJob

    point_sdk_at(monkeypatch, jobs.server.url, REGION, tmp_path)
    metrics = AwsQuantumJob(job["jobArn"]).metrics()
    by_iteration = dict(zip(metrics["iteration_number"], metrics["loss"], strict=True))
    assert by_iteration[0] == 0.5 and math.isnan(by_iteration[1])
    assert (by_iteration[2], by_iteration[3], by_iteration[4]) == (math.inf, -math.inf, 0.25)

    table = ok(
        "metrics", job["jobArn"], endpoint=jobs.server.url, env={"AWS_REGION": REGION}
    ).stdout
    assert "loss" in table and "algo-1" in table
    points = ok(
        "metrics", job["jobArn"], "--json", endpoint=jobs.server.url, env={"AWS_REGION": REGION}
    ).stdout
    assert "NaN" in points
