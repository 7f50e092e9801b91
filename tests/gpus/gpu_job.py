"""A job that reports the GPUs its instance sees and, with ``qnode=true``, runs a
``lightning.gpu`` QNode (on the CPU twin when the service runs GPU types on CPU)."""

import json
import os

from braket.jobs import save_job_result


def hyperparameters() -> dict[str, str]:
    with open(os.environ["AMZN_BRAKET_HP_FILE"]) as source:
        return dict(json.load(source))


host = os.environ["CURRENT_HOST"]
visible = os.environ.get("CUDA_VISIBLE_DEVICES")
print(f"CUDA_VISIBLE_DEVICES={visible} on {host}", flush=True)
result = {
    "cuda_visible_devices": visible,
    "twins": bool(os.environ.get("HYBRIDJOBS_GPU_TWINS")),
}
if hyperparameters().get("qnode") == "true":
    import pennylane as qml

    device = qml.device("lightning.gpu", wires=2)

    @qml.qnode(device)
    def circuit(theta: float) -> object:
        qml.RX(theta, wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.PauliZ(1))

    result["qnode"] = float(circuit(0.3))
    result["device"] = device.name
if host == "algo-1":
    save_job_result(result)
