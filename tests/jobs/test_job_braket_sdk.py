"""A job written for Amazon Braket, unchanged: the SDK's LocalSimulator and braket.jobs."""

from __future__ import annotations

import json
import uuid

from jobs.conftest import BUCKET, JobKit

DEVICE = "local:braket/braket.local.qubit"

BELL_JOB = """
from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import (
    get_hyperparameters,
    get_input_data_dir,
    get_job_device_arn,
    save_job_checkpoint,
    save_job_result,
)
from braket.jobs.metrics import log_metric


def start_here():
    hyperparameters = get_hyperparameters()
    shots = int(hyperparameters["shots"])
    bell = Circuit().h(0).cnot(0, 1)
    counts = LocalSimulator().run(bell, shots=shots).result().measurement_counts
    for iteration in range(3):
        log_metric("loss", 1.0 / (iteration + 1), iteration_number=iteration)
    with open(f"{get_input_data_dir()}/greeting.txt") as greeting:
        text = greeting.read()
    save_job_checkpoint({"iterations": 3})
    save_job_result(
        {
            "counts": dict(counts),
            "device": get_job_device_arn(),
            "greeting": text,
            "hyperparameters": hyperparameters,
        }
    )
"""


def test_local_simulator_job_with_braket_jobs_helpers(jobs: JobKit) -> None:
    prefix = f"sdk/{uuid.uuid4().hex}"
    jobs.put(f"{prefix}/input/greeting.txt", "hello from S3")
    checkpoints = f"s3://{BUCKET}/{prefix}/checkpoints"
    job = jobs.run_ok(
        BELL_JOB,
        entry_point="bell:start_here",
        deviceConfig={"device": DEVICE},
        hyperParameters={"shots": "100"},
        inputDataConfig=[
            {
                "channelName": "input",
                "dataSource": {"s3DataSource": {"s3Uri": f"s3://{BUCKET}/{prefix}/input"}},
            }
        ],
        checkpointConfig={"s3Uri": checkpoints},
        timeout=90,
    )

    results = jobs.results_json(job)
    assert results["braketSchemaHeader"] == {
        "name": "braket.jobs_data.persisted_job_data",
        "version": "1",
    }
    assert results["dataFormat"] == "plaintext"
    data = results["dataDictionary"]
    assert set(data["counts"]) <= {"00", "11"} and sum(data["counts"].values()) == 100
    assert data["device"] == DEVICE
    assert data["greeting"] == "hello from S3"
    assert data["hyperparameters"] == {"shots": "100"}

    metrics = jobs.store.list_metrics(job["jobArn"])
    assert [(m.name, m.value, m.iteration_number) for m in metrics] == [
        ("loss", 1.0, 0),
        ("loss", 0.5, 1),
        ("loss", 1.0 / 3, 2),
    ]
    assert {m.instance for m in metrics} == {"algo-1"}

    saved = jobs.objects.get_bytes(BUCKET, f"{prefix}/checkpoints/{job['jobName']}.json")
    assert json.loads(saved)["dataDictionary"] == {"iterations": 3}
