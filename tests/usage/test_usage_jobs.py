"""Usage records from real jobs and tasks on live servers: a job's record is its
billableDuration, its tasks' records their shots; the SDK's Tracker inside the job prices
its tasks from the service's price list; ``hybridjobs usage`` reports the same; a job
budget refuses new jobs once spent; a server killed with SIGKILL during a job leaves
exactly one record for it; budgets (an account's, a job's tag) stop running jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from jobs.conftest import JobKit, ServerPool, wait_until
from support.postgres import create_schema

from hybridjobs.store.sql import SqlJobStore
from hybridjobs.usage.budgets import BUDGET_TAG
from hybridjobs.usage.prices import DEFAULT_PRICES

GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
SHOTS = 50

TRACKED = f"""
import json, math, os, pathlib
from braket.aws import AwsDevice
from braket.circuits import Circuit
from braket.tracking import Tracker

def main():
    with Tracker() as tracker:
        bell = Circuit().add_verbatim_box(
            Circuit().prx(1, math.pi / 2, 0).prx(2, math.pi / 2, 0).cz(1, 2))
        AwsDevice("{GARNET}").run(bell, shots={SHOTS}).result()
    stats = tracker.quantum_tasks_statistics()
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
        json.dumps({{
            "qpu_cost": str(tracker.qpu_tasks_cost()),
            "shots": stats["{GARNET}"]["shots"],
            "tasks": stats["{GARNET}"]["tasks"],
            "url": os.environ["BRAKET_PRICE_OFFERS_URL"],
        }}))
"""

WAITER = """
import pathlib, time

def main(release: str):
    pathlib.Path(release + ".started").touch()
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
"""


def _cli(kit: JobKit, command: str, *args: str) -> str:
    """``hybridjobs COMMAND ARGS`` against the kit's server; its standard output."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybridjobs.cli",
            command,
            "--endpoint",
            kit.server.url,
            "--region",
            "us-west-2",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _cli_usage(kit: JobKit, *args: str) -> dict[str, object]:
    report: dict[str, object] = json.loads(_cli(kit, "usage", "--json", *args))
    return report


@pytest.fixture(params=["sqlite", "postgresql"])
def usage_kit(request: pytest.FixtureRequest, servers: ServerPool) -> JobKit:
    """A job-running server on each store backend; ``kit.store`` reads its database."""
    if request.param == "sqlite":
        return servers.start()
    url = create_schema(request.getfixturevalue("pg_url"))
    kit = servers.start(extra_args=("--db-url", url))
    kit._store = SqlJobStore(url)  # closed with the kit
    return kit


def test_job_and_task_usage_match_billable_duration_shots_and_the_tracker(
    usage_kit: JobKit,
) -> None:
    kit = usage_kit
    job = kit.run_ok(TRACKED, entry_point="tracked:main", timeout=120)
    arn = job["jobArn"]
    results = kit.results_json(job)
    assert results["url"] == f"{kit.server.url}/_hybridjobs/pricing/AmazonBraket/index.csv"

    (record,) = kit.store.usage_records(kind="job", resource_arns=[arn])
    assert record.duration_ms == job["billableDuration"] > 0
    assert (record.resource_type, record.instance_count) == ("ml.m5.large", 1)
    assert record.status == "COMPLETED"
    (task,) = [r for r in kit.store.usage_records(kind="task") if r.job_arn == arn]
    assert (task.resource_type, task.shots, task.status) == (GARNET, SHOTS, "COMPLETED")
    assert results["shots"] == SHOTS and results["tasks"] == {"COMPLETED": 1}

    task_cost = DEFAULT_PRICES.task_cost(GARNET, "COMPLETED", SHOTS, task.duration_ms)
    assert task_cost == Decimal("0.30") + SHOTS * Decimal("0.00145")
    assert Decimal(results["qpu_cost"]) == task_cost  # the Tracker, from the served list

    report = _cli_usage(kit, "--by", "job")
    lines = {line["key"]: line for line in report["lines"]}  # type: ignore[attr-defined]
    line = lines[arn]
    assert line["instanceSeconds"] == job["billableDuration"] / 1000
    assert (line["jobs"], line["tasks"], line["shots"]) == (1, 1, SHOTS)
    job_cost = DEFAULT_PRICES.job_cost("ml.m5.large", job["billableDuration"])
    cost = (job_cost + task_cost).quantize(Decimal("0.000001"))
    assert Decimal(line["cost"]) == cost

    # The cost column of `hybridjobs jobs` and the estimate of `describe`.
    (listed,) = [j for j in json.loads(_cli(kit, "jobs", "--json")) if j["jobArn"] == arn]
    assert Decimal(listed["cost"]) == cost
    table = _cli(kit, "jobs", "--color", "never")
    assert "COST" in table.splitlines()[0] and f"${float(cost):.4f}" in table
    described = _cli(kit, "describe", arn, "--color", "never")
    assert (
        f"Estimated cost:   ${float(cost):.4f} (instances ${float(job_cost):.4f}, "
        f"1 quantum task ${float(task_cost):.4f}; USD at default prices" in described
    ), described


def test_budgets_stop_running_jobs_and_refuse_new_ones(servers: ServerPool, tmp_path: Path) -> None:
    """An account budget of $0.00005 (about 1.6 s of ml.m5.large) with running jobs
    stopped: a job tagged with a budget of its own of $0.00002 is stopped by its tag, an
    untagged one by the account's budget, and then new jobs are refused."""
    kit = servers.start(
        env={
            "HYBRIDJOBS_JOB_BUDGETS": '{"*": 0.00005}',
            "HYBRIDJOBS_JOB_BUDGETS_STOP_RUNNING": "true",
        }
    )
    with pytest.raises(ClientError) as bad_tag:
        kit.create(WAITER, entry_point="waiter:main", tags={BUDGET_TAG: "lots"})
    error = bad_tag.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "tags" in error["Message"] and BUDGET_TAG in error["Message"]

    never = {"release": str(tmp_path / "never")}
    tagged = kit.create(
        WAITER, entry_point="waiter:main", hyperParameters=never, tags={BUDGET_TAG: "0.00002"}
    )
    untagged = kit.create(WAITER, entry_point="waiter:main", hyperParameters=never)
    by_tag = kit.wait(tagged, ["FAILED", "COMPLETED", "CANCELLED"], timeout=90)
    by_account = kit.wait(untagged, ["FAILED", "COMPLETED", "CANCELLED"], timeout=90)

    assert by_tag["status"] == "FAILED"
    assert by_tag["failureReason"].startswith(
        f"JobBudgetExceeded: the job's budget (tag {BUDGET_TAG}"
    )
    assert by_account["status"] == "FAILED"
    reason = by_account["failureReason"]
    assert reason.startswith("JobBudgetExceeded: the job budget of account 000000000000")
    assert "HYBRIDJOBS_JOB_BUDGETS" in reason
    # Stopped jobs are charged for the time they ran, like any other.
    (record,) = kit.store.usage_records(resource_arns=[tagged])
    assert record.status == "FAILED" and record.duration_ms == by_tag["billableDuration"] > 0

    with pytest.raises(ClientError) as refused:
        kit.create("def main():\n    pass\n", entry_point="quick:main")
    error = refused.value.response
    assert error["Error"]["Code"] == "ServiceQuotaExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert "JobBudgetExceeded" in error["Error"]["Message"]
    assert "000000000000" in error["Error"]["Message"]


def test_kill_9_during_a_job_leaves_exactly_one_usage_record(
    servers: ServerPool, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    first = servers.start()
    arn = first.create(WAITER, entry_point="waiter:main", hyperParameters={"release": str(release)})
    wait_until(lambda: Path(f"{release}.started").exists(), 30, "the job to start")
    first.crash()
    assert first.store.usage_records(resource_arns=[arn]) == []
    second = servers.start(data_dir=first.data_dir)
    release.touch()
    job = second.wait(arn, ["COMPLETED"], timeout=60)
    second.server.stop()
    third = servers.start(data_dir=first.data_dir)  # a further restart adds nothing
    records = third.store.usage_records(resource_arns=[arn])
    assert len(records) == 1
    assert records[0].duration_ms == job["billableDuration"]
