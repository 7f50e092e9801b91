"""The smallest hybrid job: a Bell circuit on the job's embedded simulator.

Run it with ``hybridjobs run examples/bell/bell.py``. It reads its device from the job
(``local:braket/braket.local.qubit`` by default), runs the circuit, and saves the
measurement counts with ``save_job_result``.
"""

from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import get_job_device_arn, save_job_result


def main(shots: int = 1000) -> None:
    device_arn = get_job_device_arn()
    if not device_arn.startswith("local:"):
        raise ValueError(f"this example runs on an embedded simulator, not {device_arn}")
    bell = Circuit().h(0).cnot(0, 1)
    print(f"running a Bell circuit on {device_arn} with {shots} shots")
    counts = LocalSimulator().run(bell, shots=shots).result().measurement_counts
    print(f"measurement counts: {dict(counts)}")
    save_job_result({"measurement_counts": dict(counts), "shots": shots, "device": device_arn})


if __name__ == "__main__":
    main()
