"""Data-parallel training of a 2-qubit quantum classifier across the job's instances.

Each instance reads the CSV of input channel ``train``, keeps its shard (rows
``RANK::WORLD_SIZE``), computes the loss gradient on its shard, and the gradients are
averaged across instances every epoch with the TCP all-reduce of ``allreduce.py`` —
``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE`` and ``RANK`` are set by the service when
the hyperparameter ``sagemaker_distributed_dataparallel_enabled`` is ``"true"``
(``hybridjobs run --data-parallel``). Only algo-1 (rank 0) saves results: the training
curve, the accuracy, and the speed-up against one instance. Entry point: ``train:main``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pennylane as qml
from allreduce import AllReduce
from braket.jobs import get_input_data_dir, get_job_device_arn, save_job_result
from braket.jobs.metrics import log_metric
from pennylane import numpy as pnp


def load_shard(rank: int, world: int) -> tuple[np.ndarray, np.ndarray]:
    """This instance's rows of the ``train`` channel's CSV (``x0,x1,label``)."""
    files = sorted(Path(get_input_data_dir("train")).rglob("*.csv"))
    if not files:
        raise FileNotFoundError("input channel 'train' holds no .csv file")
    rows = np.loadtxt(files[0], delimiter=",", skiprows=1)[rank::world]
    return rows[:, :2], rows[:, 2]


def classifier(device_name: str, layers: int) -> qml.QNode:
    """<Z0> of the angle-embedded sample after ``layers`` strongly entangling layers."""
    device = qml.device(device_name, wires=2)
    diff_method = "backprop" if device_name == "default.qubit" else "best"

    @qml.qnode(device, diff_method=diff_method)
    def circuit(weights: pnp.ndarray, features: pnp.ndarray) -> pnp.ndarray:
        qml.AngleEmbedding(features, wires=[0, 1])
        qml.StronglyEntanglingLayers(weights, wires=[0, 1])
        return qml.expval(qml.PauliZ(0))

    return circuit


def main(
    epochs: int = 20,
    stepsize: float = 0.3,
    layers: int = 2,
    baseline_seconds: float = 0.0,
    **_: str,
) -> None:
    """Train; ``baseline_seconds`` (the training time of a 1-instance run) gives a
    measured speed-up, else it is estimated from the instances' compute times."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    host = os.environ.get("SM_CURRENT_HOST", "algo-1")
    features, labels = load_shard(rank, world)
    print(f"{host}: rank {rank} of {world}, {len(labels)} samples in my shard")
    address = (os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ.get("MASTER_PORT", 0)))
    allreduce = AllReduce(rank, world, address)
    circuit = classifier(get_job_device_arn().split("/", 1)[-1], layers)
    weights = pnp.array(
        np.random.default_rng(42).normal(scale=0.3, size=(layers, 2, 3)), requires_grad=True
    )

    def loss(w: pnp.ndarray) -> pnp.ndarray:
        return pnp.mean((circuit(w, features) - labels) ** 2)

    gradient_of = qml.grad(loss)
    curve, accuracy_curve, compute = [], [], 0.0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        gradient = np.asarray(gradient_of(weights))
        predictions = np.asarray(circuit(weights, features))
        shard_loss = float(np.mean((predictions - labels) ** 2))
        correct = float(np.sum(np.sign(predictions) == labels))
        compute += time.perf_counter() - tick
        n = len(labels)
        total = allreduce.sum(np.concatenate([gradient.ravel() * n, [shard_loss * n, correct, n]]))
        count = total[-1]
        weights = weights - stepsize * total[:-3].reshape(weights.shape) / count
        log_metric("shard_loss", shard_loss, iteration_number=epoch)
        if rank == 0:
            curve.append(round(float(total[-3] / count), 5))
            accuracy_curve.append(round(float(total[-2] / count), 4))
            log_metric("loss", curve[-1], iteration_number=epoch)
            log_metric("accuracy", accuracy_curve[-1], iteration_number=epoch)
            print(f"epoch {epoch:2d}: loss {curve[-1]:.4f}  accuracy {accuracy_curve[-1]:.3f}")
    training = time.perf_counter() - started
    compute_total = float(allreduce.sum(np.array([compute]))[0])
    allreduce.close()
    if rank != 0:
        print(f"{host}: done ({compute:.2f} s computing); algo-1 saves the results")
        return
    measured = baseline_seconds > 0
    save_job_result(
        {
            "saved_by": host,
            "world_size": world,
            "samples": int(count),
            "loss_curve": curve,
            "accuracy_curve": accuracy_curve,
            "final_accuracy": accuracy_curve[-1],
            "training_seconds": round(training, 3),
            "compute_seconds_all_instances": round(compute_total, 3),
            "speedup_vs_1_instance": round(
                (baseline_seconds if measured else compute_total) / training, 3
            ),
            "speedup_is": "measured" if measured else "estimated",
        }
    )
    print(f"training took {training:.2f} s on {world} instance(s)")
