"""The quantum-task and device operations through boto3 against a live server: what each
returns, and one refusal per validation rule (with the model's error code and status)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from support.braket import ISO_TIMESTAMP, RawBodies, expect_error

from tasks.conftest import (
    AQUILA,
    BELL,
    BUCKET,
    DM1,
    GARNET,
    REGION,
    SV1,
    TERMINAL,
    TN1,
    create_task,
    openqasm_action,
)

LONG_DM = (
    "OPENQASM 3.0;\nqubit[11] q;\n"
    + "".join(f"h q[{i % 11}];\ncnot q[{i % 11}], q[{(i + 1) % 11}];\n" for i in range(400))
    + "#pragma braket result probability\n"
)


def wait_terminal(braket: Any, arn: str) -> dict[str, Any]:
    """GetQuantumTask until terminal (each call holds briefly while the task finishes)."""
    for _ in range(600):
        task: dict[str, Any] = braket.get_quantum_task(quantumTaskArn=arn)
        if task["status"] in TERMINAL:
            return task
    raise AssertionError(f"{arn} did not finish: {task}")


def wait_status(braket: Any, arn: str, status: str) -> None:
    for _ in range(600):
        if braket.get_quantum_task(quantumTaskArn=arn)["status"] == status:
            return
    raise AssertionError(f"{arn} never reached {status}")


# -- devices --------------------------------------------------------------------------------


def test_get_device_sv1(braket: Any) -> None:
    device = braket.get_device(deviceArn=SV1)
    assert device["deviceName"] == "SV1"
    assert device["deviceType"] == "SIMULATOR"
    assert device["deviceStatus"] == "ONLINE"
    capabilities = json.loads(device["deviceCapabilities"])
    assert capabilities["paradigm"]["qubitCount"] >= 20
    queues = {(q["queue"], q.get("queuePriority")) for q in device["deviceQueueInfo"]}
    assert ("QUANTUM_TASKS_QUEUE", "Normal") in queues
    assert ("QUANTUM_TASKS_QUEUE", "Priority") in queues
    assert ("JOBS_QUEUE", None) in queues


def test_get_device_unknown_is_not_found(braket: Any) -> None:
    expect_error(
        braket.get_device,
        "ResourceNotFoundException",
        404,
        deviceArn="arn:aws:braket:::device/quantum-simulator/amazon/nope",
    )


def test_regional_qpu_answers_in_every_region(server: Any) -> None:
    for region in ("us-east-1", "eu-north-1", "us-west-1"):
        device = server.client("braket", region=region).get_device(deviceArn=GARNET)
        assert device["providerName"] == "IQM"


def test_search_devices_filters_and_pages(braket: Any) -> None:
    everything = braket.search_devices(filters=[])["devices"]
    arns = {d["deviceArn"] for d in everything}
    assert {SV1, DM1, TN1, GARNET, AQUILA} <= arns
    simulators = braket.search_devices(filters=[{"name": "deviceType", "values": ["SIMULATOR"]}])
    assert {d["deviceArn"] for d in simulators["devices"]} == {SV1, DM1, TN1}
    by_provider = braket.search_devices(filters=[{"name": "providerName", "values": ["IQM"]}])
    assert [d["deviceArn"] for d in by_provider["devices"]] == [GARNET]
    first = braket.search_devices(filters=[], maxResults=2)
    assert len(first["devices"]) == 2 and first["nextToken"]
    rest = braket.search_devices(filters=[], maxResults=100, nextToken=first["nextToken"])
    assert [d["deviceArn"] for d in first["devices"] + rest["devices"]] == [
        d["deviceArn"] for d in everything
    ]
    expect_error(
        braket.search_devices,
        "ValidationException",
        400,
        filters=[{"name": "color", "values": ["blue"]}],
    )


# -- tasks: the happy path ------------------------------------------------------------------


def test_bell_task_completes_with_results_where_aws_writes_them(server: Any, braket: Any) -> None:
    raw = RawBodies(braket)
    arn = create_task(braket, BELL, shots=1000, tags={"team": "qml"})
    assert arn.startswith(f"arn:aws:braket:{REGION}:000000000000:quantum-task/")
    assert wait_terminal(braket, arn)["status"] == "COMPLETED"
    task = braket.get_quantum_task(quantumTaskArn=arn, additionalAttributeNames=["QueueInfo"])
    assert ISO_TIMESTAMP.search(raw.last.decode())
    task_id = arn.rsplit("/", 1)[1]
    assert task["outputS3Directory"] == f"tasks/{task_id}"
    assert task["numSuccessfulShots"] == 1000
    assert task["actionMetadata"]["actionType"] == "braket.ir.openqasm.program"
    assert task["queueInfo"]["position"] == "None"
    assert task["queueInfo"]["queuePriority"] == "Normal"
    assert task["tags"] == {"team": "qml"}
    assert task["endedAt"] >= task["createdAt"]
    body = server.client("s3").get_object(Bucket=BUCKET, Key=f"tasks/{task_id}/results.json")
    result = json.loads(body["Body"].read())
    assert result["taskMetadata"]["id"] == arn
    assert result["taskMetadata"]["shots"] == 1000
    counts: dict[str, int] = {}
    for shot in result["measurements"]:
        key = "".join(map(str, shot))
        counts[key] = counts.get(key, 0) + 1
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000


def test_idempotent_client_token(braket: Any) -> None:
    token = str(uuid.uuid4())
    params = {
        "clientToken": token,
        "deviceArn": SV1,
        "shots": 10,
        "outputS3Bucket": BUCKET,
        "outputS3KeyPrefix": "tasks",
        "action": openqasm_action(BELL),
    }
    first = braket.create_quantum_task(**params)["quantumTaskArn"]
    assert braket.create_quantum_task(**params)["quantumTaskArn"] == first
    expect_error(braket.create_quantum_task, "ConflictException", 409, **{**params, "shots": 11})


def test_search_tasks_by_device_status_and_time(braket: Any) -> None:
    dm_arn = create_task(braket, BELL, device=DM1, shots=10)
    wait_terminal(braket, dm_arn)
    found = braket.search_quantum_tasks(
        filters=[{"name": "deviceArn", "values": [DM1], "operator": "EQUAL"}]
    )["quantumTasks"]
    assert dm_arn in [t["quantumTaskArn"] for t in found]
    assert all(t["deviceArn"] == DM1 for t in found)
    completed = braket.search_quantum_tasks(
        filters=[
            {"name": "status", "values": ["COMPLETED"], "operator": "EQUAL"},
            {"name": "quantumTaskArn", "values": [dm_arn], "operator": "EQUAL"},
        ]
    )["quantumTasks"]
    assert [t["quantumTaskArn"] for t in completed] == [dm_arn]
    later = braket.search_quantum_tasks(
        filters=[{"name": "createdAt", "values": ["2999-01-01T00:00:00Z"], "operator": "GT"}]
    )
    assert later["quantumTasks"] == []
    page = braket.search_quantum_tasks(filters=[], maxResults=1)
    assert len(page["quantumTasks"]) == 1 and page["nextToken"]
    expect_error(
        braket.search_quantum_tasks,
        "ValidationException",
        400,
        filters=[{"name": "deviceArn", "values": [SV1], "operator": "CONTAINS"}],
    )


def test_tags_on_task_arns(braket: Any) -> None:
    arn = create_task(braket, BELL, shots=10)
    braket.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    braket.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    missing = arn[:-4] + "0000"
    expect_error(
        braket.list_tags_for_resource, "ResourceNotFoundException", 404, resourceArn=missing
    )


def test_cancel_queued_running_and_finished(braket: Any) -> None:
    running = create_task(braket, LONG_DM, device=DM1, shots=0)
    wait_status(braket, running, "RUNNING")
    queued = [create_task(braket, LONG_DM, device=DM1, shots=0) for _ in range(3)]
    answer = braket.cancel_quantum_task(quantumTaskArn=running, clientToken=str(uuid.uuid4()))
    assert answer["cancellationStatus"] in ("CANCELLING", "CANCELLED")
    assert wait_terminal(braket, running)["status"] == "CANCELLED"
    for arn in queued:
        braket.cancel_quantum_task(quantumTaskArn=arn, clientToken=str(uuid.uuid4()))
        assert wait_terminal(braket, arn)["status"] == "CANCELLED"
    again = braket.cancel_quantum_task(quantumTaskArn=running, clientToken=str(uuid.uuid4()))
    assert again["cancellationStatus"] == "CANCELLED"
    done = create_task(braket, BELL, shots=10)
    assert wait_terminal(braket, done)["status"] == "COMPLETED"
    expect_error(
        braket.cancel_quantum_task,
        "ConflictException",
        409,
        quantumTaskArn=done,
        clientToken=str(uuid.uuid4()),
    )


def test_get_unknown_task_is_not_found(braket: Any) -> None:
    arn = f"arn:aws:braket:{REGION}:000000000000:quantum-task/{uuid.uuid4()}"
    expect_error(braket.get_quantum_task, "ResourceNotFoundException", 404, quantumTaskArn=arn)


def test_a_task_that_fails_at_run_time_says_why(braket: Any) -> None:
    source = "OPENQASM 3.0;\nqubit[1] q;\nx q[0];\n#pragma braket result expectation x(q[0])\n"
    arn = create_task(braket, source, shots=0)
    task = wait_terminal(braket, arn)
    assert task["status"] in ("COMPLETED", "FAILED")
    if task["status"] == "FAILED":
        assert task["failureReason"] and "/" not in task["failureReason"].split(":")[0]


# -- tasks: one refusal per rule ------------------------------------------------------------

REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown device", {"deviceArn": SV1.replace("sv1", "sv9")}, "deviceArn"),
    ("shots above the range", {"shots": 10_000_000}, "shots"),
    (
        "too many qubits",
        {"action": openqasm_action("OPENQASM 3.0;\nqubit[60] q;\nh q[59];")},
        "qubit",
    ),
    (
        "unsupported gate",
        {"action": openqasm_action("OPENQASM 3.0;\nqubit[2] q;\nfoo q[0];")},
        "foo",
    ),
    (
        "sampling result with shots=0",
        {
            "shots": 0,
            "action": openqasm_action(
                "OPENQASM 3.0;\nqubit[1] q;\nh q[0];\n#pragma braket result sample z(q[0])"
            ),
        },
        "shots",
    ),
    (
        "state vector with shots",
        {
            "shots": 10,
            "action": openqasm_action(
                "OPENQASM 3.0;\nqubit[1] q;\nh q[0];\n#pragma braket result state_vector"
            ),
        },
        "state",
    ),
    (
        "malformed program",
        {"action": openqasm_action("OPENQASM 3.0;\nqubit[2 q;\nh q[0]")},
        "parse",
    ),
    ("malformed action document", {"action": '{"source": 3'}, "action"),
    (
        "action type the device does not take",
        {
            "action": json.dumps(
                {"braketSchemaHeader": {"name": "braket.ir.ahs.program", "version": "1"}}
            )
        },
        "action",
    ),
    (
        "missing input",
        {
            "action": openqasm_action(
                "OPENQASM 3.0;\ninput float theta;\nqubit[1] q;\nrx(theta) q[0];\n"
                "#pragma braket result probability"
            ),
            "shots": 0,
        },
        "theta",
    ),
    ("output bucket missing", {"outputS3Bucket": "no-such-bucket-here"}, "outputS3Bucket"),
    ("device parameters not JSON", {"deviceParameters": "{not json"}, "deviceParameters"),
    ("unknown job token", {"jobToken": "not-a-token"}, "jobToken"),
]


@pytest.mark.parametrize(("what", "change", "named"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_create_task_refusals(braket: Any, what: str, change: dict[str, Any], named: str) -> None:
    params: dict[str, Any] = {
        "clientToken": str(uuid.uuid4()),
        "deviceArn": SV1,
        "shots": 100,
        "outputS3Bucket": BUCKET,
        "outputS3KeyPrefix": "tasks",
        "action": openqasm_action(BELL),
        **change,
    }
    before = braket.search_quantum_tasks(filters=[], maxResults=1)["quantumTasks"]
    response = expect_error(braket.create_quantum_task, "ValidationException", 400, **params)
    assert named.lower() in response["Error"]["Message"].lower(), response["Error"]["Message"]
    after = braket.search_quantum_tasks(filters=[], maxResults=1)["quantumTasks"]
    assert after == before, "a refused request must store nothing"


def test_emulated_qpu_refuses_non_native_gate_and_runs_native(braket: Any) -> None:
    non_native = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"
    response = expect_error(
        braket.create_quantum_task,
        "ValidationException",
        400,
        clientToken=str(uuid.uuid4()),
        deviceArn=GARNET,
        shots=100,
        outputS3Bucket=BUCKET,
        outputS3KeyPrefix="tasks",
        action=openqasm_action(non_native),
        deviceParameters=json.dumps({}),
    )
    assert "h" in response["Error"]["Message"].lower()
    expect_error(
        braket.create_quantum_task,
        "ValidationException",
        400,
        clientToken=str(uuid.uuid4()),
        deviceArn=GARNET,
        shots=0,
        outputS3Bucket=BUCKET,
        outputS3KeyPrefix="tasks",
        action=openqasm_action(BELL),
    )


def test_jaqcd_program(braket: Any) -> None:
    action = json.dumps(
        {
            "braketSchemaHeader": {"name": "braket.ir.jaqcd.program", "version": "1"},
            "instructions": [
                {"type": "h", "target": 0},
                {"type": "cnot", "control": 0, "target": 1},
            ],
            "results": [{"type": "probability"}],
        }
    )
    arn = braket.create_quantum_task(
        clientToken=str(uuid.uuid4()),
        deviceArn=SV1,
        shots=0,
        outputS3Bucket=BUCKET,
        outputS3KeyPrefix="tasks",
        action=action,
    )["quantumTaskArn"]
    task = wait_terminal(braket, arn)
    assert task["status"] == "COMPLETED", task.get("failureReason")
    assert task["actionMetadata"]["actionType"] == "braket.ir.jaqcd.program"
