"""Acceptance: Braket hybrid-job code runs here unchanged once ``AWS_ENDPOINT_URL`` is set.

Every test drives the real amazon-braket-sdk (``AwsQuantumJob``, ``@hybrid_job``,
``logs()``, ``metrics()``, ``result()``, checkpoints) against a live ``hybridjobs serve``
that runs the jobs as local processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from braket.aws import AwsQuantumJob
from braket.jobs import hybrid_job
from braket.jobs.config import InstanceConfig

from sdk.conftest import ACCOUNT, LOCAL_DEVICE, REGION, finished, wait_for, write

BELL_SCRIPT = """
import os
import time
from pathlib import Path

from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import get_hyperparameters, get_input_data_dir, save_job_result
from braket.jobs.metrics import log_metric


def main():
    host = os.environ["SM_CURRENT_HOST"]
    shots = int(get_hyperparameters()["shots"])
    data = (Path(get_input_data_dir("input")) / "data.txt").read_text()
    counts = LocalSimulator().run(Circuit().h(0).cnot(0, 1), shots=shots).result()
    print(f"hello from {host}: {dict(counts.measurement_counts)}")
    for iteration in range(3):
        log_metric(metric_name="loss", value=1.0 / (iteration + 1), iteration_number=iteration)
    for tick in range(6):  # output over several of the SDK's 5 s log polls
        print(f"tick {tick} from {host}", flush=True)
        time.sleep(1)
    if host == "algo-1":
        save_job_result({"counts": dict(counts.measurement_counts), "data": data, "shots": shots})
"""


def test_create_wait_logs_metrics_and_result(
    user_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(user_env / "bell.py", BELL_SCRIPT)
    data = write(user_env / "data.txt", "input for the job")

    job = AwsQuantumJob.create(
        device=LOCAL_DEVICE,
        source_module=str(script),
        entry_point="bell:main",
        hyperparameters={"shots": 100},
        input_data=str(data),
        instance_config=InstanceConfig(instanceType="ml.m5.large", instanceCount=2),
        wait_until_complete=True,
    )
    waited = capsys.readouterr().out

    assert f"Initializing Braket Job: {job.arn}" in waited
    assert job.arn.startswith(f"arn:aws:braket:{REGION}:{ACCOUNT}:job/")
    assert job.state() == "COMPLETED"
    metadata = job.metadata()
    assert metadata["instanceConfig"]["instanceCount"] == 2
    assert metadata["hyperParameters"] == {"shots": "100"}
    assert metadata["roleArn"].endswith(":role/service-role/AmazonBraketJobsExecutionRole")
    assert metadata["outputDataConfig"]["s3Path"].startswith(
        f"s3://amazon-braket-{REGION}-{ACCOUNT}/jobs/"
    )
    assert job.queue_position().queue_position is None
    for host in ("algo-1", "algo-2"):
        assert f"hello from {host}" in waited
        ticks = [line for line in waited.splitlines() if line.endswith(f"from {host}")]
        assert ticks == [f"tick {n} from {host}" for n in range(6)]  # each once, in order

    job.logs(poll_interval_seconds=0)
    printed = capsys.readouterr().out
    assert "hello from algo-1" in printed
    assert "hello from algo-2" in printed

    result = job.result()
    assert result["data"] == "input for the job"
    assert result["shots"] == 100
    assert set(result["counts"]) <= {"00", "11"}
    assert sum(result["counts"].values()) == 100
    job.download_result(extract_to=str(user_env / "downloaded"))
    assert (user_env / "downloaded" / job.name / "results.json").exists()

    metrics = job.metrics()
    assert sorted(set(metrics["loss"])) == pytest.approx([1 / 3, 1 / 2, 1.0])
    assert len(metrics["timestamp"]) == len(metrics["loss"])


SLEEPER = """
import time
print("sleeping", flush=True)
time.sleep(120)
"""


def test_cancel_a_running_job(user_env: Path) -> None:
    script = write(user_env / "sleeper.py", SLEEPER)
    job = AwsQuantumJob.create(device=LOCAL_DEVICE, source_module=str(script))

    wait_for(job, lambda state: state == "RUNNING")
    assert job.cancel() in ("CANCELLING", "CANCELLED")

    assert finished(job, timeout=30) == "CANCELLED"
    assert job.result() == {}  # nothing was saved; the SDK tries the download anyway


def test_hybrid_job_decorator(user_env: Path) -> None:
    @hybrid_job(device=LOCAL_DEVICE, instance_config=InstanceConfig(instanceCount=1))  # type: ignore[untyped-decorator]
    def bell_counts(shots: int) -> dict[str, Any]:
        from braket.circuits import Circuit
        from braket.devices import LocalSimulator
        from braket.jobs import get_job_device_arn

        device = LocalSimulator()
        counts = device.run(Circuit().h(0).cnot(0, 1), shots=shots).result()
        return {"device": get_job_device_arn(), "total": sum(counts.measurement_counts.values())}

    job = bell_counts(50)

    assert job.name.startswith("bell-counts-")
    assert job.result(poll_interval_seconds=0.2) == {"device": LOCAL_DEVICE, "total": 50}
    assert job.state() == "COMPLETED"


def test_hybrid_job_decorator_with_absolute_input_paths(user_env: Path) -> None:
    """``input_data`` at absolute paths (a file and a directory): the SDK's prelude would
    link them at those paths, which here are the user's own files (issue 16)."""
    data_file = write(user_env / "abs-data" / "numbers.txt", "1 2 3")
    data_dir = user_env / "abs-dir"
    write(data_dir / "a.txt", "alpha")
    write(data_dir / "b.txt", "beta")

    def user_files() -> list[Path]:
        return sorted([*data_file.parent.rglob("*"), *data_dir.rglob("*")])

    before = user_files()

    @hybrid_job(  # type: ignore[untyped-decorator]
        device=LOCAL_DEVICE, input_data={"numbers": str(data_file), "letters": str(data_dir)}
    )
    def read_inputs() -> dict[str, Any]:
        import os

        from braket.jobs import get_input_data_dir

        return {
            "in_place": Path(data_file).read_text(),
            "dir_in_place": sorted(os.listdir(data_dir)),
            "channel": Path(get_input_data_dir("numbers"), "numbers.txt").read_text(),
            "channel_dir": sorted(os.listdir(get_input_data_dir("letters"))),
        }

    job = read_inputs()

    assert job.result(poll_interval_seconds=0.2) == {
        "in_place": "1 2 3",
        "dir_in_place": ["a.txt", "b.txt"],
        "channel": "1 2 3",
        "channel_dir": ["a.txt", "b.txt"],
    }, job.metadata().get("failureReason")
    assert job.state() == "COMPLETED"
    # The user's files are as they were: nothing was replaced by a link, nothing added.
    assert user_files() == before
    assert not data_file.is_symlink() and not data_dir.is_symlink()
    assert data_file.read_text() == "1 2 3"


SAVE_CHECKPOINT = """
from braket.jobs import save_job_checkpoint

def main():
    save_job_checkpoint({"step": 7, "params": [0.1, 0.2]}, checkpoint_file_suffix="opt")
"""

RESUME = """
from braket.jobs import get_hyperparameters, load_job_checkpoint, save_job_result

def main():
    previous = get_hyperparameters()["previous"]
    state = load_job_checkpoint(job_name=previous, checkpoint_file_suffix="opt")
    save_job_result({"resumed_at": state["step"], "params": state["params"]})
"""


def test_resume_from_another_jobs_checkpoints(user_env: Path) -> None:
    first = AwsQuantumJob.create(
        device=LOCAL_DEVICE,
        source_module=str(write(user_env / "first.py", SAVE_CHECKPOINT)),
        entry_point="first:main",
    )
    assert finished(first) == "COMPLETED", first.metadata()

    second = AwsQuantumJob.create(
        device=LOCAL_DEVICE,
        source_module=str(write(user_env / "second.py", RESUME)),
        entry_point="second:main",
        hyperparameters={"previous": first.name},
        copy_checkpoints_from_job=first.arn,
    )

    assert finished(second) == "COMPLETED", second.metadata()
    assert second.result() == {"resumed_at": 7, "params": [0.1, 0.2]}


EXAMPLE_SCRIPT = """
import os

import boto3
from braket.aws import AwsDevice
from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import get_job_device_arn, get_job_name, save_job_result
from braket.jobs.metrics import log_metric


def start_here():
    print("Test job started!")
    device_arn = get_job_device_arn()
    device = LocalSimulator() if device_arn.startswith("local:") else AwsDevice(device_arn)
    results = []
    for i in range(3):
        task = device.run(Circuit().h(0).cnot(0, 1), shots=20)
        counts = task.result().measurement_counts
        results.append(dict(counts))
        log_metric(metric_name="ones", value=counts.get("11", 0), iteration_number=i)

    # The job's environment points boto3 at the service that runs it.
    bucket = os.environ["AMZN_BRAKET_OUT_S3_BUCKET"]
    keys = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"jobs/{get_job_name()}/")
    found = boto3.client("braket").search_jobs(
        filters=[{"name": "jobName", "operator": "EQUAL", "values": [get_job_name()]}]
    )["jobs"]
    save_job_result({
        "results": results,
        "own_status": found[0]["status"],
        "script_uploaded": any(k["Key"].endswith("source.tar.gz") for k in keys["Contents"]),
        "account": boto3.client("sts").get_caller_identity()["Account"],
    })
    print("Test job completed!")
"""


def test_an_examples_style_script(user_env: Path) -> None:
    write(user_env / "algorithm" / "__init__.py", "")
    write(user_env / "algorithm" / "algorithm_script.py", EXAMPLE_SCRIPT)

    job = AwsQuantumJob.create(
        device=LOCAL_DEVICE,
        source_module="algorithm",
        entry_point="algorithm.algorithm_script:start_here",
        job_name="examples-style-job",
    )

    assert finished(job) == "COMPLETED", job.metadata()
    result = job.result()
    assert [sum(r.values()) for r in result["results"]] == [20, 20, 20]
    assert result["own_status"] == "RUNNING"
    assert result["script_uploaded"] is True
    assert result["account"] == ACCOUNT
    metrics = job.metrics()
    assert len(metrics["ones"]) == 3
    assert all(0 <= value <= 20 for value in metrics["ones"])
