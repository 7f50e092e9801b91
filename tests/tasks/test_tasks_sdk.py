"""Unmodified amazon-braket-sdk, PennyLane and Qiskit code against the live service: only
``AWS_ENDPOINT_URL``, a key and a region are set (see ``user_env``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tasks.conftest import AQUILA, DM1, GARNET, REGION, SV1, wait_for_job

pytestmark = pytest.mark.usefixtures("user_env")


def test_aws_device_runs_a_bell_circuit() -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    device = AwsDevice(SV1)
    assert device.name == "SV1" and device.is_available
    assert device.properties.paradigm.qubitCount >= 20
    counts = device.run(Circuit().h(0).cnot(0, 1), shots=1000).result().measurement_counts
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
    assert 350 < counts["00"] < 650


def test_get_devices_lists_the_catalog() -> None:
    from braket.aws import AwsDevice

    arns = {device.arn for device in AwsDevice.get_devices()}
    assert {SV1, DM1, GARNET, AQUILA} <= arns
    qpus = AwsDevice.get_devices(types=["QPU"], provider_names=["IQM"])
    assert [d.arn for d in qpus] == [GARNET]


def test_run_batch_of_fifty_circuits() -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    circuits = [Circuit().rx(0, 0.05 * i).cnot(0, 1).probability() for i in range(50)]
    batch = AwsDevice(SV1).run_batch(circuits, shots=0, max_parallel=10)
    results = batch.results()
    assert len(results) == 50
    for i, result in enumerate(results):
        p_one = math.sin(0.05 * i / 2) ** 2
        assert result.values[0][3] == pytest.approx(p_one, abs=1e-9)


def test_parametric_program_with_inputs() -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit, FreeParameter
    from braket.circuits.observables import Z

    theta = FreeParameter("theta")
    circuit = Circuit().ry(0, theta).expectation(Z(), target=[0])
    device = AwsDevice(SV1)
    for value in (0.0, 0.7, 2.1):
        result = device.run(circuit, shots=0, inputs={"theta": value}).result()
        assert result.values[0] == pytest.approx(math.cos(value), abs=1e-9)


def test_dm1_with_a_noisy_circuit() -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    circuit = Circuit().x(0).bit_flip(0, 0.2).probability(target=[0])
    result = AwsDevice(DM1).run(circuit, shots=0).result()
    assert result.values[0][0] == pytest.approx(0.2, abs=1e-9)


def test_emulated_qpu_runs_a_native_circuit_with_noise() -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    device = AwsDevice(GARNET)
    circuit = Circuit().add_verbatim_box(
        Circuit().prx(1, math.pi / 2, 0).prx(2, math.pi / 2, 0).cz(1, 2).prx(2, -math.pi / 2, 0)
    )
    counts = device.run(circuit, shots=500).result().measurement_counts
    assert sum(counts.values()) == 500
    assert counts.get("00", 0) + counts.get("11", 0) > 350


def test_ahs_program_on_the_analog_device() -> None:
    from braket.ahs.analog_hamiltonian_simulation import AnalogHamiltonianSimulation
    from braket.ahs.atom_arrangement import AtomArrangement
    from braket.ahs.driving_field import DrivingField
    from braket.aws import AwsDevice
    from braket.timings.time_series import TimeSeries

    register = AtomArrangement().add([0.0, 0.0]).add([0.0, 2.4e-5])
    omega = TimeSeries().put(0.0, 0.0).put(1e-7, 2.5e6).put(3.9e-6, 2.5e6).put(4e-6, 0.0)
    phase = TimeSeries().put(0.0, 0.0).put(4e-6, 0.0)
    detuning = TimeSeries().put(0.0, 0.0).put(4e-6, 0.0)
    program = AnalogHamiltonianSimulation(
        register=register, hamiltonian=DrivingField(omega, phase, detuning)
    )
    device = AwsDevice(AQUILA)
    result = device.run(program.discretize(device), shots=50).result()
    assert len(result.measurements) == 50


def test_pennylane_qnode_gradient_on_sv1() -> None:
    import pennylane as qml

    dev = qml.device("braket.aws.qubit", device_arn=SV1, wires=2, shots=None)

    @qml.qnode(dev, diff_method="parameter-shift")
    def circuit(theta: Any) -> Any:
        qml.RX(theta, wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.PauliZ(1))

    theta = qml.numpy.array(0.4, requires_grad=True)
    assert float(circuit(theta)) == pytest.approx(math.cos(0.4), abs=1e-7)
    assert float(qml.grad(circuit)(theta)) == pytest.approx(-math.sin(0.4), abs=1e-6)


def test_qiskit_circuit_through_the_braket_provider() -> None:
    from qiskit import QuantumCircuit
    from qiskit_braket_provider import BraketProvider

    backend = BraketProvider().get_backend("SV1")
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    counts = backend.run(circuit, shots=200).result().get_counts()
    assert sum(counts.values()) == 200 and set(counts) <= {"00", "11"}


JOB_SCRIPT = """
import json, os
from braket.aws import AwsDevice
from braket.circuits import Circuit
from braket.jobs import save_job_result

device = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])
tasks = [device.run(Circuit().rx(0, 0.1 * i).probability(), shots=0) for i in range(10)]
values = [task.result().values[0][1] for task in tasks]
save_job_result({"values": values, "tasks": [task.id for task in tasks]})
"""


def test_hybrid_job_sends_tasks_that_carry_its_arn(user_env: Path) -> None:
    import boto3
    from braket.aws import AwsQuantumJob

    (user_env / "algo.py").write_text(JOB_SCRIPT)
    job = AwsQuantumJob.create(
        device=SV1, source_module=str(user_env / "algo.py"), wait_until_complete=False
    )
    result = _wait_result(job)
    values = result["values"]
    assert values == pytest.approx([math.sin(0.05 * i) ** 2 for i in range(10)], abs=1e-9)
    braket = boto3.client("braket", region_name=REGION)
    for arn in result["tasks"]:
        task = braket.get_quantum_task(quantumTaskArn=arn, additionalAttributeNames=["QueueInfo"])
        assert task["jobArn"] == job.arn
        assert task["queueInfo"]["queuePriority"] == "Priority"
    assert {t.id for t in job.get_tasks()} == set(result["tasks"])


def _wait_result(job: Any) -> dict[str, Any]:
    state = wait_for_job(job, timeout=120)
    assert state == "COMPLETED", job.metadata().get("failureReason")
    data: dict[str, Any] = job.result()
    return data


def test_task_results_read_by_arn_alone() -> None:
    from braket.aws import AwsDevice, AwsQuantumTask
    from braket.circuits import Circuit

    task = AwsDevice(SV1).run(Circuit().h(0).probability(), shots=0)
    again = AwsQuantumTask(task.id).result()
    assert np.allclose(again.values[0], [0.5, 0.5])
    assert again.task_metadata.id == task.id


def test_program_set_on_sv1() -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit, FreeParameter
    from braket.circuits.observables import Z
    from braket.program_sets import CircuitBinding, ProgramSet

    circuit = Circuit().ry(0, FreeParameter("theta")).cnot(0, 1)
    program_set = ProgramSet([CircuitBinding(circuit, {"theta": [0.1, 2.0]}, [Z(0)])])
    result = AwsDevice(SV1).run(program_set, shots=4000).result()
    entries = result[0]
    assert len(entries) == 2
    assert entries[0].expectation == pytest.approx(math.cos(0.1), abs=0.1)
    assert entries[1].expectation == pytest.approx(math.cos(2.0), abs=0.1)


FAILING_JOB_SCRIPT = """
from braket.aws import AwsDevice
from braket.circuits import Circuit

circuit = Circuit()
for i in range(400):
    circuit.h(i % 11).cnot(i % 11, (i + 1) % 11)
task = AwsDevice("arn:aws:braket:::device/quantum-simulator/amazon/dm1").run(
    circuit.probability(), shots=0
)
print("sent", task.id, flush=True)
raise RuntimeError("the job gives up before its task is done")
"""


def test_a_failing_job_cancels_its_unfinished_tasks(user_env: Path) -> None:
    import boto3
    from braket.aws import AwsQuantumJob

    (user_env / "giveup.py").write_text(FAILING_JOB_SCRIPT)
    job = AwsQuantumJob.create(
        device=SV1, source_module=str(user_env / "giveup.py"), wait_until_complete=False
    )
    assert wait_for_job(job, timeout=120) == "FAILED"
    braket = boto3.client("braket", region_name=REGION)
    tasks = braket.search_quantum_tasks(
        filters=[{"name": "jobArn", "values": [job.arn], "operator": "EQUAL"}]
    )["quantumTasks"]
    assert len(tasks) == 1
    arn = tasks[0]["quantumTaskArn"]
    for _ in range(600):
        status = braket.get_quantum_task(quantumTaskArn=arn)["status"]
        if status in ("COMPLETED", "FAILED", "CANCELLED"):
            break
    assert status == "CANCELLED"
