"""``devices`` and ``tasks`` (list, describe, results, cancel) through subprocesses against a
live service; quantum tasks are created with boto3, as any SDK would create them."""

from __future__ import annotations

import json
import re
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import explain, hybridjobs, ok
from support.server import LiveServer

from hybridjobs.cli import main
from hybridjobs.cli.task_results import (
    ahs_state_counts,
    bitstring_counts,
    histogram_lines,
    result_type_label,
    summarize,
)

REGION = "us-east-1"  # the CLI's default region: a task id resolves without a search
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
BELL = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"
PROBABILITIES = (
    "OPENQASM 3.0;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\n"
    "#pragma braket result probability\n#pragma braket result expectation z(q[0])\n"
)
LONG_DM = (
    "OPENQASM 3.0;\nqubit[11] q;\n"
    + "".join(f"h q[{i % 11}];\ncnot q[{i % 11}], q[{(i + 1) % 11}];\n" for i in range(400))
    + "#pragma braket result probability\n"
)
TASKS_HEADER = ["ID", "STATUS", "DEVICE", "SHOTS", "CREATED", "DURATION", "JOB"]

JOB_WITH_TASKS = """
import os
from braket.aws import AwsDevice
from braket.circuits import Circuit
from braket.jobs import save_job_result

device = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])
tasks = [device.run(Circuit().h(0).cnot(0, 1), shots=10) for _ in range(2)]
for task in tasks:
    task.result()
save_job_result({"tasks": [task.id for task in tasks]})
"""


# -- helpers and fixtures -------------------------------------------------------------------


def openqasm_action(source: str) -> str:
    """A ``braket.ir.openqasm.program`` action document as the SDK sends it."""
    from braket.ir.openqasm import Program

    return Program(source=source, inputs={}).json()


@pytest.fixture(scope="module")
def braket(server: LiveServer) -> Any:
    return server.client("braket", region=REGION)


@pytest.fixture(scope="module")
def bucket(server: LiveServer) -> str:
    """An output bucket made for this module's tasks."""
    name = f"cli-tasks-{uuid.uuid4().hex[:12]}"
    server.client("s3", region=REGION).create_bucket(Bucket=name)
    return name


def create_task(
    braket: Any, bucket: str, source: str = BELL, device: str = SV1, shots: int = 100
) -> str:
    """CreateQuantumTask through boto3; the task's ARN."""
    arn: str = braket.create_quantum_task(
        clientToken=str(uuid.uuid4()),
        deviceArn=device,
        shots=shots,
        outputS3Bucket=bucket,
        outputS3KeyPrefix="tasks",
        action=openqasm_action(source),
    )["quantumTaskArn"]
    return arn


def wait_terminal(braket: Any, arn: str, timeout: float = 120.0) -> dict[str, Any]:
    """GetQuantumTask until the task is terminal (each call holds briefly server-side)."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = braket.get_quantum_task(quantumTaskArn=arn)
        if task["status"] in TERMINAL:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"{arn} did not finish in {timeout} s: {task}")


@pytest.fixture(scope="module")
def bell(braket: Any, bucket: str) -> str:
    """The ARN of a COMPLETED 100-shot Bell task on SV1."""
    arn = create_task(braket, bucket)
    task = wait_terminal(braket, arn)
    assert task["status"] == "COMPLETED", task.get("failureReason")
    return arn


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def as_json(*args: str, endpoint: str) -> Any:
    return json.loads(ok(*args, endpoint=endpoint).stdout)


# -- devices --------------------------------------------------------------------------------


def test_devices_lists_the_simulators_and_qpus(server: LiveServer) -> None:
    text = ok("devices", endpoint=server.url).stdout
    lines = text.splitlines()
    assert lines[0].split() == [
        "NAME", "PROVIDER", "TYPE", "STATUS", "QUBITS", "SHOTS", "QUEUE", "ARN",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:]}
    for name in ("SV1", "DM1", "TN1"):
        assert name in rows, text
        assert "SIMULATOR" in rows[name] and "ONLINE" in rows[name]
    assert SV1 in rows["SV1"] and re.search(r" \d+/\d+ ", rows["SV1"])
    assert re.search(r"  \d+  +0-100000 ", rows["SV1"]), rows["SV1"]
    assert any(" QPU " in row for row in rows.values()), text


def test_devices_filters_and_json(server: LiveServer) -> None:
    simulators = as_json("devices", "--type", "simulator", "--json", endpoint=server.url)
    assert {d["deviceName"] for d in simulators} == {"SV1", "DM1", "TN1"}
    assert all(d["qubitCount"] > 0 and d["shotsRange"][1] > 0 for d in simulators)
    assert all(set(d["queueSizes"]) >= {"Normal", "Priority"} for d in simulators)
    qpus = as_json("devices", "--type", "QPU", "--json", endpoint=server.url)
    assert qpus and all(d["deviceType"] == "QPU" for d in qpus)
    iqm = as_json("devices", "--provider", "iqm", "--json", endpoint=server.url)
    assert GARNET in [d["deviceArn"] for d in iqm]
    assert all(d["providerName"] == "IQM" for d in iqm)
    none = ok("devices", "--provider", "nobody-makes-these", endpoint=server.url)
    assert none.stdout.strip() == "no devices"


def test_one_device_by_name_or_arn(server: LiveServer) -> None:
    text = ok("devices", "sv1", endpoint=server.url).stdout
    qubits = re.search(r"^Qubits:\s+(\d+)$", text, re.MULTILINE)
    assert qubits and int(qubits[1]) >= 20, text
    assert f"ARN:              {SV1}" in text
    assert "Operations:" in text and "cnot" in text and "Task queue:" in text
    capabilities = as_json("devices", "SV1", "--capabilities", endpoint=server.url)
    assert capabilities["paradigm"]["qubitCount"] == int(qubits[1])
    garnet = ok("devices", GARNET, endpoint=server.url).stdout
    assert "Native gates:" in garnet and "Connectivity:" in garnet and "couplers" in garnet
    answer = as_json("devices", "garnet", "--json", endpoint=server.url)
    assert answer["deviceArn"] == GARNET and isinstance(answer["deviceCapabilities"], dict)


def test_unknown_devices_are_one_error_line(server: LiveServer) -> None:
    missing = hybridjobs("devices", "nosuch", endpoint=server.url)
    assert missing.returncode == 3, explain(missing)
    assert missing.stderr.startswith("error: ResourceNotFoundException: no device has the ARN")
    assert len(missing.stderr.strip().splitlines()) == 1
    arn = hybridjobs("devices", SV1.replace("sv1", "sv9"), endpoint=server.url)
    assert arn.returncode == 3 and arn.stderr.startswith("error: ResourceNotFoundException")
    usage = hybridjobs("devices", "SV1", "--type", "QPU", endpoint=server.url)
    assert usage.returncode == 2, explain(usage)


# -- tasks ----------------------------------------------------------------------------------


def test_tasks_lists_a_task_in_a_table_and_as_json(server: LiveServer, bell: str) -> None:
    text = ok("tasks", endpoint=server.url).stdout
    lines = text.splitlines()
    assert lines[0].split() == TASKS_HEADER
    row = next(line for line in lines if line.startswith(task_id(bell)))
    assert row.split()[1:4] == ["COMPLETED", "sv1", "100"], row
    assert row.split()[-1] == "-"  # no job
    listed = as_json(
        "tasks", "list", "--device", "SV1", "--status", "completed", "--json", endpoint=server.url
    )
    assert bell in [t["quantumTaskArn"] for t in listed]
    assert all(t["deviceArn"] == SV1 and t["status"] == "COMPLETED" for t in listed)
    mine = next(t for t in listed if t["quantumTaskArn"] == bell)
    assert mine["taskId"] == task_id(bell) and mine["shots"] == 100
    assert mine["durationSeconds"] >= 0 and mine["jobArn"] is None
    on_dm1 = as_json("tasks", "--device", DM1, "--json", endpoint=server.url)
    assert bell not in [t["quantumTaskArn"] for t in on_dm1]
    assert len(as_json("tasks", "--limit", "1", "--json", endpoint=server.url)) == 1
    future = ok("tasks", "--since", "2999-01-01", endpoint=server.url)
    assert future.stdout.strip() == "no quantum tasks"


def test_tasks_newest_first(server: LiveServer, braket: Any, bucket: str, bell: str) -> None:
    newer = create_task(braket, bucket, shots=10)
    listed = as_json("tasks", "--limit", "200", "--json", endpoint=server.url)
    arns = [t["quantumTaskArn"] for t in listed]
    assert arns.index(newer) < arns.index(bell)
    wait_terminal(braket, newer)


def test_tasks_describe_by_arn_and_id(server: LiveServer, bucket: str, bell: str) -> None:
    for reference in (bell, task_id(bell), task_id(bell).upper()):
        answer = as_json("tasks", "describe", reference, "--json", endpoint=server.url)
        assert answer["quantumTaskArn"] == bell
    assert answer["queueInfo"]["queuePriority"] == "Normal"
    text = ok("tasks", "describe", task_id(bell), endpoint=server.url).stdout
    for expected in (
        f"ID:               {task_id(bell)}",
        "Status:           COMPLETED",
        "Shots:            100 (100 successful)",
        f"Output:           s3://{bucket}/tasks/{task_id(bell)}/",
        f"Results:          s3://{bucket}/tasks/{task_id(bell)}/results.json",
        "Action:           braket.ir.openqasm.program",
        "Program:          OpenQASM",
        "  cnot q[0], q[1];",
    ):
        assert expected in text, text
    assert "Failure reason" not in text


def test_a_task_made_in_another_region_resolves_by_id(server: LiveServer, bucket: str) -> None:
    west = server.client("braket", region="us-west-2")
    arn = create_task(west, bucket, shots=10)
    assert ":us-west-2:" in arn
    answer = as_json("tasks", "describe", task_id(arn), "--json", endpoint=server.url)
    assert answer["quantumTaskArn"] == arn
    wait_terminal(west, arn)


def test_tasks_results_counts_json_and_download(
    server: LiveServer, bell: str, tmp_path: Path
) -> None:
    text = ok("tasks", "results", task_id(bell), endpoint=server.url).stdout
    assert "measurement counts (qubits 0, 1):" in text
    counts = {
        match[1]: int(match[2]) for match in re.finditer(r"^  ([01]{2})  \S+\s+(\d+)  ", text, re.M)
    }
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 100, text
    assert text.index("\n  00 ") < text.index("\n  11 ")  # sorted by bitstring
    summary = as_json("tasks", "results", bell, "--json", endpoint=server.url)
    assert summary["kind"] == "gate_model" and summary["measurementCounts"] == counts
    target = tmp_path / "out"
    downloaded = ok("tasks", "results", bell, "--download", str(target), endpoint=server.url)
    document = json.loads((target / "results.json").read_text())
    assert document["taskMetadata"]["id"] == bell
    assert str(target / "results.json") in downloaded.stdout


def test_tasks_results_shows_result_types(server: LiveServer, braket: Any, bucket: str) -> None:
    arn = create_task(braket, bucket, PROBABILITIES, shots=0)
    assert wait_terminal(braket, arn)["status"] == "COMPLETED"
    text = ok("tasks", "results", arn, endpoint=server.url).stdout
    assert "result types:" in text and "probability" in text and "expectation z(0)" in text
    summary = as_json("tasks", "results", arn, "--json", endpoint=server.url)
    probability = next(rt for rt in summary["resultTypes"] if rt["type"]["type"] == "probability")
    assert probability["value"] == pytest.approx([0.5, 0.0, 0.0, 0.5])


def test_cancel_an_unfinished_task_then_results_exit_1(
    server: LiveServer, braket: Any, bucket: str
) -> None:
    arn = create_task(braket, bucket, LONG_DM, device=DM1, shots=0)
    cancelled = ok("tasks", "cancel", task_id(arn), endpoint=server.url)
    assert cancelled.stdout.strip() in (f"{task_id(arn)}: CANCELLING", f"{task_id(arn)}: CANCELLED")
    assert wait_terminal(braket, arn)["status"] == "CANCELLED"
    results = hybridjobs("tasks", "results", arn, endpoint=server.url)
    assert results.returncode == 1, explain(results)
    assert "CANCELLED" in results.stdout
    again = ok("tasks", "cancel", arn, endpoint=server.url)
    assert again.stdout.strip() == f"{task_id(arn)}: CANCELLED"


def test_cancel_a_finished_task_is_one_error_line(server: LiveServer, bell: str) -> None:
    result = hybridjobs("tasks", "cancel", bell, endpoint=server.url)
    assert result.returncode == 3, explain(result)
    assert result.stderr.startswith("error: ConflictException: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_tasks_are_one_error_line(server: LiveServer) -> None:
    missing = str(uuid.uuid4())
    for command in ("describe", "results", "cancel"):
        result = hybridjobs("tasks", command, missing, endpoint=server.url)
        assert result.returncode == 3, explain(result)
        assert result.stderr == (
            f"error: ResourceNotFoundException: no quantum task has the ARN or id '{missing}'\n"
        )
    arn = f"arn:aws:braket:{REGION}:000000000000:quantum-task/{missing}"
    by_arn = hybridjobs("tasks", "describe", arn, endpoint=server.url)
    assert by_arn.returncode == 3 and by_arn.stderr.startswith("error: ResourceNotFound")
    bad = hybridjobs("tasks", "describe", "not-a-task", endpoint=server.url)
    assert bad.returncode == 2, explain(bad)
    assert bad.stderr.startswith("error: 'not-a-task' is not a quantum-task ARN")
    for args in (("--device", "nosuch"), ("--job", "no-such-job")):
        result = hybridjobs("tasks", *args, endpoint=server.url)
        assert result.returncode == 3 and "ResourceNotFoundException" in result.stderr


@pytest.fixture(scope="module")
def job_with_tasks(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a completed job that ran two Bell tasks on SV1 through the SDK."""
    script = tmp_path_factory.mktemp("job-with-tasks") / "job_with_tasks.py"
    script.write_text(textwrap.dedent(JOB_WITH_TASKS))
    name = f"tasks-{uuid.uuid4().hex[:10]}"
    ok("run", str(script), "--device", SV1, "--name", name, endpoint=server.url, timeout=240)
    yield name


def test_tasks_of_a_job(server: LiveServer, job_with_tasks: str) -> None:
    saved = json.loads(ok("results", job_with_tasks, "--json", endpoint=server.url).stdout)
    listed = as_json("tasks", "--job", job_with_tasks, "--json", endpoint=server.url)
    assert {t["quantumTaskArn"] for t in listed} == set(saved["tasks"])
    assert all(t["jobName"] == job_with_tasks and t["jobArn"] for t in listed)
    text = ok("tasks", "--job", job_with_tasks, endpoint=server.url).stdout
    rows = text.splitlines()[1:]
    assert len(rows) == 2 and all(row.split()[-1] == job_with_tasks for row in rows)
    described = ok("tasks", "describe", saved["tasks"][0], endpoint=server.url).stdout
    assert f"Job:              {job_with_tasks}  (arn:aws:braket:" in described
    assert "(Priority)" in described


# -- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["devices"],
        ["tasks"],
        ["tasks", "list"],
        ["tasks", "describe"],
        ["tasks", "results"],
        ["tasks", "cancel"],
    ],
    ids=" ".join,
)
def test_devices_and_tasks_help_has_examples(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"hybridjobs {' '.join(command)}" in text
    assert "exit codes:" in text


# -- the result summaries, on documents of each kind ----------------------------------------


def test_bitstring_counts_accept_int_and_str_bits() -> None:
    assert bitstring_counts([[1, 1], ["0", "0"], [0, 0]]) == {"00": 2, "11": 1}


def test_ahs_counts_follow_the_sdk_convention() -> None:
    shots = [
        {"shotMetadata": {"shotStatus": "Success"}, "shotResult": {"preSequence": [1, 1, 0], "postSequence": [0, 1, 0]}},
        {"shotMetadata": {"shotStatus": "Success"}, "shotResult": {"preSequence": [1, 1, 0], "postSequence": [0, 1, 0]}},
        {"shotMetadata": {"shotStatus": "Failure"}, "shotResult": {}},
    ]  # fmt: skip
    assert ahs_state_counts(shots) == ({"rge": 2}, {"Failure": 1, "Success": 2})
    document = {
        "braketSchemaHeader": {"name": "braket.task_result.analog_hamiltonian_simulation_task_result"},
        "taskMetadata": {"shots": 3},
        "measurements": shots,
    }  # fmt: skip
    summary = summarize(document)
    assert summary["kind"] == "ahs" and summary["successfulShots"] == 2


def test_histogram_is_scaled_and_capped() -> None:
    lines = histogram_lines({"00": 30, "01": 0, "11": 60}, bar="#", width=10, limit=2)
    assert lines[0] == "  00  #####       30   33.3%"
    assert lines[1] == "  01               0    0.0%"
    assert lines[2] == "  ... 1 more outcomes (--json shows them all)"


def test_result_type_labels() -> None:
    assert result_type_label({"type": "expectation", "observable": ["z"], "targets": [0]}) == (
        "expectation z(0)"
    )
    assert result_type_label({"type": "probability", "targets": [0, 1]}) == "probability(0, 1)"
    assert result_type_label({"type": "amplitude", "states": ["00", "11"]}) == "amplitude 00, 11"
    assert result_type_label({"type": "statevector"}) == "statevector"
