"""``jobs``, ``describe``, ``logs``, ``results``, ``metrics``, ``cancel`` and the error
lines, through subprocesses against a live service."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import EXAMPLES, describe_json, explain, hybridjobs, ok
from support.server import LiveServer, free_port

from hybridjobs.cli import main

METRICS_JOB = """
from braket.jobs import save_job_result
from braket.jobs.metrics import log_metric
import os

host = os.environ["SM_CURRENT_HOST"]
for i in range(1, 6):
    log_metric("loss", 1.0 / i, iteration_number=i)
    print(f"{host} step {i}")
if host == "algo-1":
    save_job_result({"final_loss": 0.2})
"""


@pytest.fixture(scope="module")
def finished(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a completed 2-instance job that logged metrics and saved a result."""
    directory = tmp_path_factory.mktemp("metrics-job")
    script = directory / "metrics_job.py"
    script.write_text(textwrap.dedent(METRICS_JOB))
    name = f"metrics-{uuid.uuid4().hex[:10]}"
    ok("run", str(script), "--instances", "2", "--name", name, endpoint=server.url)
    yield name


def test_jobs_lists_a_table_and_json_with_filters(server: LiveServer, finished: str) -> None:
    table = ok("jobs", endpoint=server.url).stdout
    header = table.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "DEVICE", "INSTANCES", "CREATED", "DURATION", "COST"]
    row = next(line for line in table.splitlines() if line.startswith(finished))
    assert "COMPLETED" in row and "2 x ml.m5.large" in row and row.split()[-1].startswith("$")
    listed = json.loads(ok("jobs", "--name", finished, "--json", endpoint=server.url).stdout)
    assert [j["jobName"] for j in listed] == [finished]
    assert listed[0]["instanceCount"] == 2 and listed[0]["durationSeconds"] > 0
    none = json.loads(
        ok("jobs", "--status", "QUEUED,CANCELLING", "--json", endpoint=server.url).stdout
    )
    assert all(j["status"] in ("QUEUED", "CANCELLING") for j in none)
    recent = ok("jobs", "--since", "1h", "--status", "completed", endpoint=server.url).stdout
    assert finished in recent
    assert finished not in ok("jobs", "--since", "2999-01-01", endpoint=server.url).stdout


def test_describe_resolves_names_ids_and_arns(server: LiveServer, finished: str) -> None:
    job = describe_json(finished, server.url)
    arn = job["jobArn"]
    uuid_part = arn.rsplit("/", 1)[1]
    for reference in (arn, uuid_part):
        assert describe_json(reference, server.url)["jobArn"] == arn
    text = ok("describe", uuid_part, endpoint=server.url).stdout
    for expected in (f"Name:             {finished}", "Status:           COMPLETED", "Events:"):
        assert expected in text
    assert text.index("QUEUED_FOR_EXECUTION") < text.index("RUNNING") < text.rindex("COMPLETED")


def test_logs_of_every_instance_or_one(server: LiveServer, finished: str) -> None:
    both = ok("logs", finished, endpoint=server.url).stdout
    assert "algo-1 | algo-1 step 5" in both and "algo-2 | algo-2 step 5" in both
    assert "Training Env" in both  # `logs` shows everything the instances printed
    second = ok("logs", finished, "--instance", "2", endpoint=server.url).stdout
    assert "algo-2 | algo-2 step 1" in second and "algo-1 |" not in second


def test_results_print_and_download(server: LiveServer, finished: str, tmp_path: Path) -> None:
    shown = ok("results", finished, endpoint=server.url).stdout
    assert "final_loss" in shown and "0.2" in shown
    as_json = json.loads(ok("results", finished, "--json", endpoint=server.url).stdout)
    assert as_json == {"final_loss": 0.2}
    target = tmp_path / "out"
    downloaded = ok("results", finished, "--download", str(target), endpoint=server.url)
    document = json.loads((target / "results.json").read_text())
    assert document["dataDictionary"] == {"final_loss": 0.2}
    assert str(target) in downloaded.stdout


def test_metrics_table_json_and_plot(server: LiveServer, finished: str, tmp_path: Path) -> None:
    table = ok("metrics", finished, endpoint=server.url).stdout
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("loss", "algo-1", "5"), ("loss", "algo-2", "5")]
    assert rows[0][3:5] == ["1", "0.2"]  # first and last values
    points = json.loads(ok("metrics", finished, "--json", endpoint=server.url).stdout)
    assert sorted({p["iteration_number"] for p in points}) == [1, 2, 3, 4, 5]
    png = tmp_path / "plots" / "metrics.png"
    ok("metrics", finished, "--plot", str(png), endpoint=server.url)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_cancel_a_running_job_then_cancel_again_is_one_error_line(
    server: LiveServer, tmp_path: Path
) -> None:
    script = tmp_path / "forever.py"
    script.write_text("import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    name = f"forever-{uuid.uuid4().hex[:10]}"
    ok("run", str(script), "--no-wait", "--name", name, endpoint=server.url)
    cancelled = ok("cancel", name, "--wait", endpoint=server.url)
    assert cancelled.stdout.splitlines()[-1] == f"{name}: CANCELLED"
    again = hybridjobs("cancel", name, endpoint=server.url)
    assert again.returncode == 3, explain(again)
    assert again.stderr.startswith("error: ConflictException: ")
    assert len(again.stderr.strip().splitlines()) == 1
    results = hybridjobs("results", name, endpoint=server.url)
    assert results.returncode == 1 and "CANCELLED" in results.stdout


def test_an_ambiguous_name_lists_the_matches(server: LiveServer, tmp_path: Path) -> None:
    script = tmp_path / "twice.py"
    script.write_text("print('hi')\n")
    name = f"twice-{uuid.uuid4().hex[:10]}"
    for _ in range(2):
        ok("run", str(script), "--no-wait", "--name", name, endpoint=server.url)
    result = hybridjobs("describe", name, endpoint=server.url)
    assert result.returncode == 2, explain(result)
    assert f"2 jobs are named '{name}'" in result.stderr
    assert result.stderr.count("arn:aws:braket:") == 2


def test_unknown_jobs_and_service_errors_are_one_line(server: LiveServer) -> None:
    for command in ("describe", "logs", "cancel"):
        result = hybridjobs(command, "no-such-job", endpoint=server.url)
        assert result.returncode == 3, explain(result)
        assert result.stderr == (
            "error: ResourceNotFoundException: no job has the ARN, id or name 'no-such-job'\n"
        )
    arn = "arn:aws:braket:us-east-1:000000000000:job/00000000-0000-0000-0000-000000000000"
    missing = hybridjobs("describe", arn, endpoint=server.url)
    assert missing.returncode == 3 and missing.stderr.startswith("error: ResourceNotFound")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_a_service_that_is_down_exits_4() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for args in (("jobs",), ("describe", "x"), ("run", str(EXAMPLES / "bell" / "bell.py"))):
        result = hybridjobs(*args, endpoint=down, timeout=60)
        assert result.returncode == 4, explain(result)
        assert result.stderr.startswith(f"error: cannot reach hybridjobs at {down}")
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command", ["run", "jobs", "describe", "logs", "cancel", "results", "metrics", "demo"]
)
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"hybridjobs {command}" in text and "exit codes:" in text


def test_the_top_level_help_documents_the_exit_codes() -> None:
    result = ok("--help", endpoint=None)
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130 "):
        assert f"\n  {code}" in result.stdout
