"""The scheduler as its own process (``hybridjobs scheduler``) next to an API-only server."""

from __future__ import annotations

import subprocess

from jobs.conftest import ServerPool, event_types, start_scheduler, wait_until

SCRIPT = """
import os, pathlib
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
    '{"endpoint": "%s"}' % os.environ["AWS_ENDPOINT_URL_BRAKET"])
"""


def test_separate_scheduler_runs_a_job(
    servers: ServerPool, scheduler_process: list[subprocess.Popen[bytes]]
) -> None:
    api = servers.start(extra_args=("--no-scheduler",))
    arn = api.create(SCRIPT)
    job = api.braket.get_job(jobArn=arn)
    assert job["status"] == "QUEUED"  # nothing runs it yet

    scheduler_process.append(start_scheduler(api))
    job = api.wait(arn, ["COMPLETED"], timeout=30)
    assert api.results_json(job) == {"endpoint": api.server.url}
    assert event_types(job)[-1] == "COMPLETED"
    wait_until(lambda: not api.processes(arn), 5, "no job processes")


def test_separate_scheduler_runs_quantum_tasks(
    servers: ServerPool, scheduler_process: list[subprocess.Popen[bytes]]
) -> None:
    import uuid

    from braket.ir.openqasm import Program

    api = servers.start(extra_args=("--no-scheduler",))
    api.server.client("s3").create_bucket(
        Bucket="task-results", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    source = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"
    arn = api.braket.create_quantum_task(
        clientToken=str(uuid.uuid4()),
        deviceArn="arn:aws:braket:::device/quantum-simulator/amazon/sv1",
        shots=50,
        outputS3Bucket="task-results",
        outputS3KeyPrefix="t",
        action=Program(source=source, inputs={}).json(),
    )["quantumTaskArn"]
    assert api.braket.get_quantum_task(quantumTaskArn=arn)["status"] == "QUEUED"

    scheduler_process.append(start_scheduler(api))
    wait_until(
        lambda: api.braket.get_quantum_task(quantumTaskArn=arn)["status"] == "COMPLETED",
        60,
        "the task COMPLETED by the separate scheduler",
    )
    assert api.braket.get_quantum_task(quantumTaskArn=arn)["numSuccessfulShots"] == 50
