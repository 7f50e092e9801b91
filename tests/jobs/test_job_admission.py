"""Admission by capacity: jobs that never fit are refused, jobs that do not fit yet queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from jobs.conftest import JobKit, ServerPool, wait_until

# Blocks until the file named by the "release" hyperparameter exists: the test decides
# when each job ends, without sleeping.
BLOCKER = """
import os, pathlib, time

def main(release: str):
    path = pathlib.Path(release)
    while not path.exists():
        time.sleep(0.05)
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text("{}")
"""


def _quota_error(call: object) -> str:
    with pytest.raises(ClientError) as raised:
        call()  # type: ignore[operator]
    error = raised.value.response["Error"]
    assert error["Code"] == "ServiceQuotaExceededException", error
    return str(error["Message"])


@pytest.fixture
def small(servers: ServerPool, tmp_path: Path) -> JobKit:
    """A server with 4 vCPUs, where ml.g4dn.xlarge is overridden to have no GPU."""
    types = tmp_path / "instance-types.json"
    types.write_text(json.dumps({"ml.g4dn.xlarge": {"vcpus": 1, "memory_gib": 4, "gpus": 0}}))
    return servers.start(
        env={"HYBRIDJOBS_CAPACITY_VCPUS": "4", "HYBRIDJOBS_INSTANCE_TYPES_FILE": str(types)}
    )


def test_job_larger_than_capacity_is_refused(small: JobKit) -> None:
    message = _quota_error(
        lambda: small.create("print('never')", instanceConfig={"instanceCount": 5})
    )
    assert "10 vCPUs" in message and "4" in message, message


def test_five_instances_run_with_default_capacity(jobs: JobKit) -> None:
    job = jobs.run_ok(
        "import os\nprint(os.environ['SM_CURRENT_HOST'])\n", instanceConfig={"instanceCount": 5}
    )
    assert job["instanceConfig"]["instanceCount"] == 5


def test_gpu_instance_refused_without_gpu(jobs: JobKit) -> None:
    message = _quota_error(
        lambda: jobs.create("print('never')", instanceConfig={"instanceType": "ml.g4dn.xlarge"})
    )
    assert "GPU" in message, message


def test_gpu_instance_runs_when_the_table_says_it_has_none(small: JobKit) -> None:
    job = small.run_ok("print('no GPU needed')", instanceConfig={"instanceType": "ml.g4dn.xlarge"})
    assert job["instanceConfig"]["instanceType"] == "ml.g4dn.xlarge"


def test_jobs_that_do_not_fit_yet_wait_in_the_queue(small: JobKit, tmp_path: Path) -> None:
    releases = [tmp_path / f"release-{i}" for i in range(3)]
    arns = [
        small.create(BLOCKER, entry_point="blocker:main", hyperParameters={"release": str(r)})
        for r in releases
    ]
    small.wait(arns[0], ["RUNNING"])
    small.wait(arns[1], ["RUNNING"])
    queued = small.braket.get_job(jobArn=arns[2], additionalAttributeNames=["QueueInfo"])
    assert queued["status"] == "QUEUED"
    assert queued["queueInfo"]["position"] == "1"
    assert [e["eventType"] for e in queued["events"]] == ["QUEUED_FOR_EXECUTION"]
    running = small.braket.get_job(jobArn=arns[0], additionalAttributeNames=["QueueInfo"])
    assert running["queueInfo"]["position"] == "None"

    releases[0].touch()
    small.wait(arns[0], ["COMPLETED"])
    small.wait(arns[2], ["RUNNING"])
    assert small.braket.get_job(jobArn=arns[1])["status"] == "RUNNING"
    releases[1].touch()
    releases[2].touch()
    for arn in arns:
        assert small.wait(arn)["status"] == "COMPLETED"
    wait_until(lambda: not small.leftovers(), 5, "no job processes")
