"""Data-parallel hybrid training, written like AWS's example
(``5_Parallelize_training_for_QML``): SageMaker's distributed data parallel library,
PyTorch's DistributedSampler, a PennyLane TorchLayer, results saved by rank 0."""

import json
import os
import time

import numpy as np
import pennylane as qml
import smdistributed.dataparallel.torch.distributed as dist
import torch
from braket.jobs import save_job_result
from smdistributed.dataparallel.torch.parallel.distributed import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

N_QUBITS = 2
SAMPLES = 64


def main() -> None:
    with open(os.environ["AMZN_BRAKET_HP_FILE"]) as source:
        hyperparameters = json.load(source)
    epochs = int(hyperparameters.get("epochs", 12))
    distributed = hyperparameters.get("sagemaker_distributed_dataparallel_enabled") == "true"
    if distributed:
        dist.init_process_group(backend="smddp")
        world_size = dist.get_world_size()
        rank = dist.get_rank()
        local_rank = dist.get_local_rank()
    else:
        world_size, rank, local_rank = 1, 0, 0
    print(f"rank {rank} of {world_size} (local rank {local_rank})", flush=True)

    torch.manual_seed(7)
    device = qml.device("default.qubit", wires=N_QUBITS)

    @qml.qnode(device, interface="torch")
    def circuit(inputs, weights):  # type: ignore[no-untyped-def]
        qml.AngleEmbedding(inputs, wires=range(N_QUBITS))
        qml.BasicEntanglerLayers(weights, wires=range(N_QUBITS))
        return [qml.expval(qml.PauliZ(wire)) for wire in range(N_QUBITS)]

    model = torch.nn.Sequential(
        qml.qnn.TorchLayer(circuit, {"weights": (2, N_QUBITS)}),
        torch.nn.Linear(N_QUBITS, 1),
    )
    if distributed:
        model = DDP(model, device_ids=[local_rank])

    rng = np.random.default_rng(0)
    features = rng.uniform(-np.pi / 2, np.pi / 2, (SAMPLES, N_QUBITS))
    labels = np.sin(features[:, 0]) * np.cos(features[:, 1])
    dataset = TensorDataset(
        torch.tensor(features, dtype=torch.float32),
        torch.tensor(labels, dtype=torch.float32).unsqueeze(1),
    )
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)
    loader = DataLoader(dataset, batch_size=SAMPLES // world_size, sampler=sampler)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    loss_function = torch.nn.MSELoss()

    losses = []
    started = time.perf_counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch, target in loader:
            optimizer.zero_grad()
            loss = loss_function(model(batch), target)
            loss.backward()  # DDP averages the gradients over the ranks
            optimizer.step()
        total = loss.detach().clone()
        if distributed:
            dist.all_reduce(total)
            total /= world_size
        losses.append(float(total))
        print(f"epoch {epoch}: loss {losses[-1]:.6f}", flush=True)
    if distributed:
        dist.barrier()
    if rank == 0:
        save_job_result(
            {
                "world_size": world_size,
                "loss_curve": losses,
                "samples_per_rank": len(sampler),
                "seconds": time.perf_counter() - started,
            }
        )
