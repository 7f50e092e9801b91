"""QAOA for MaxCut with the Braket SDK, checkpointed every iteration and resumable.

Every iteration it logs the expected cut with ``log_metric`` and saves the angles with
``save_job_checkpoint``. When the job starts with checkpoints in its checkpoint directory
(run it with ``--checkpoint-uri`` set to an earlier job's checkpoint URI), it resumes
from the most advanced one instead of starting over. Entry point: ``qaoa:main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import (
    get_checkpoint_dir,
    get_job_device_arn,
    get_job_name,
    load_job_checkpoint,
    save_job_checkpoint,
    save_job_result,
)
from braket.jobs.metrics import log_metric

# A 5-node graph: a ring with one chord. Its maximum cut is 5 of its 6 edges.
EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2)]
NODES = 5
SHIFT = 1e-3


def qaoa_circuit(gamma: float, beta: float) -> Circuit:
    """Depth-1 QAOA: H on every qubit, ZZ(gamma) on every edge, RX(2 beta) on every qubit."""
    circuit = Circuit().h(range(NODES))
    for i, j in EDGES:
        circuit.zz(i, j, gamma)
    for qubit in range(NODES):
        circuit.rx(qubit, 2 * beta)
    return circuit.state_vector()


def expected_cut(device: LocalSimulator, params: np.ndarray, cuts: np.ndarray) -> float:
    state = device.run(qaoa_circuit(*params), shots=0).result().values[0]
    return float((np.abs(np.asarray(state)) ** 2) @ cuts)


def latest_checkpoint() -> tuple[str, dict[str, Any]] | None:
    """The job name and data of the most advanced checkpoint in the checkpoint directory."""
    found: list[tuple[int, str]] = []
    for path in Path(get_checkpoint_dir()).glob("*.json"):
        try:
            iteration = int(json.loads(path.read_text())["dataDictionary"]["iteration"])
        except (ValueError, KeyError, TypeError):
            continue
        found.append((iteration, path.stem))
    if not found:
        return None
    _, job_name = max(found)
    return job_name, load_job_checkpoint(job_name=job_name)


def main(iterations: int = 5, stepsize: float = 0.2, **_: str) -> None:
    device_arn = get_job_device_arn()
    if not device_arn.startswith("local:"):
        raise ValueError(f"this example runs on an embedded simulator, not {device_arn}")
    device = LocalSimulator()
    bitstrings = [format(index, f"0{NODES}b") for index in range(2**NODES)]
    cuts = np.array([sum(b[i] != b[j] for i, j in EDGES) for b in bitstrings], dtype=float)

    resumed = latest_checkpoint()
    if resumed is None:
        params, start, history, resumed_from = np.array([0.4, 0.4]), 0, [], None
        print("starting from scratch")
    else:
        resumed_from, data = resumed
        params, start = np.array(data["params"]), int(data["iteration"])
        history = list(data["history"])
        print(f"resuming from the checkpoint of {resumed_from} at iteration {start}")

    for iteration in range(start + 1, iterations + 1):
        gradient = np.zeros(2)
        for k in range(2):
            shift = np.eye(2)[k] * SHIFT
            gradient[k] = (
                expected_cut(device, params + shift, cuts)
                - expected_cut(device, params - shift, cuts)
            ) / (2 * SHIFT)
        params = params + stepsize * gradient  # ascend the expected cut
        value = expected_cut(device, params, cuts)
        history.append(value)
        log_metric("expected_cut", value, iteration_number=iteration)
        save_job_checkpoint({"params": params.tolist(), "iteration": iteration, "history": history})
        print(f"iteration {iteration}: expected cut {value:.4f}")

    save_job_result(
        {
            "params": params.tolist(),
            "expected_cut": history[-1] if history else None,
            "max_cut": float(cuts.max()),
            "start_iteration": start,
            "iterations": iterations,
            "resumed_from": resumed_from,
            "job_name": get_job_name(),
            "history": history,
        }
    )
