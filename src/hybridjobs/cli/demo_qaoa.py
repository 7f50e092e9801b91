"""The job ``hybridjobs demo`` runs: multi-start QAOA for MaxCut, one start per instance.

A real hybrid job script (it is uploaded and run like any other): every instance
optimises the depth-``layers`` QAOA angles from its own random start on the job's device
(``local:pennylane/<device>``, e.g. lightning.qubit, with adjoint gradients), logging the
expected cut per iteration with ``log_metric``. Then the instances send their best to ``algo-1`` over TCP
(``MASTER_ADDR``/``MASTER_PORT``, set for data-parallel jobs), which saves the overall
best with ``save_job_result``. Entry point: ``demo_qaoa:main``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
from typing import Any

import numpy as np

# A 6-node graph (a triangular prism): its maximum cut is 7 of its 9 edges.
EDGES = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4), (2, 5)]
NODES = 6
GATHER_TIMEOUT_SECONDS = 60.0


def cut_size(bits: str) -> int:
    return sum(bits[i] != bits[j] for i, j in EDGES)


def build_qnodes(device_name: str, layers: int) -> tuple[Any, Any]:
    """The cost QNode (minus the expected cut; adjoint gradients) and a probabilities QNode."""
    import networkx as nx
    import pennylane as qml

    cost_h, mixer_h = qml.qaoa.maxcut(nx.Graph(EDGES))
    device = qml.device(device_name, wires=NODES)

    def ansatz(params: Any) -> None:
        for wire in range(NODES):
            qml.Hadamard(wires=wire)
        for layer in range(layers):
            qml.qaoa.cost_layer(params[0][layer], cost_h)
            qml.qaoa.mixer_layer(params[1][layer], mixer_h)

    @qml.qnode(device, diff_method="adjoint")  # type: ignore[untyped-decorator]
    def cost(params: Any) -> Any:
        ansatz(params)
        return qml.expval(cost_h)

    @qml.qnode(device)  # type: ignore[untyped-decorator]
    def probabilities(params: Any) -> Any:
        ansatz(params)
        return qml.probs(wires=range(NODES))

    return cost, probabilities


def gather_to_master(
    best: dict[str, Any], listener: socket.socket | None
) -> list[dict[str, Any]] | None:
    """Send ``best`` to algo-1; on algo-1 (which holds ``listener``), return everyone's
    (None on the other instances)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return [best]
    if listener is None:
        address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
        deadline = time.monotonic() + GATHER_TIMEOUT_SECONDS
        while True:
            try:
                with socket.create_connection(address, timeout=5) as connection:
                    connection.sendall(json.dumps(best).encode() + b"\n")
                return None
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # algo-1 is not listening yet
    everyone = [best]
    listener.settimeout(GATHER_TIMEOUT_SECONDS)
    while len(everyone) < world:
        connection, _ = listener.accept()
        with connection, connection.makefile("rb") as stream:
            everyone.append(json.loads(stream.readline()))
    return everyone


def main(iterations: int = 30, layers: int = 2, stepsize: float = 0.1, **_: str) -> None:
    """Optimise from this instance's start, then let algo-1 save the best of all.

    The hyperparameters bind to the arguments (``**_`` takes the ``sagemaker_*`` ones a
    data-parallel job also has, so the binding succeeds).
    """
    import pennylane as qml
    from braket.jobs import get_job_device_arn, save_job_result
    from braket.jobs.metrics import log_metric
    from pennylane import numpy as pnp

    host = os.environ.get("SM_CURRENT_HOST", "algo-1")
    rank = int(os.environ.get("RANK", "0"))
    listener = None
    if rank == 0 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Listen before optimising, so the other instances can report whenever they finish.
        address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
        listener = socket.create_server(address)
    device_arn = get_job_device_arn()
    if not device_arn.startswith("local:pennylane/"):
        raise ValueError(f"the demo runs on an embedded PennyLane simulator, not {device_arn}")
    cost, probabilities = build_qnodes(device_arn.split("/", 1)[1], layers)
    bitstrings = ["".join(b) for b in itertools.product("01", repeat=NODES)]
    max_cut = max(cut_size(b) for b in bitstrings)
    rng = np.random.default_rng(1234 + rank)
    params = pnp.array(rng.uniform(0.1, 0.7, size=(2, layers)), requires_grad=True)
    start = [round(float(x), 3) for x in params.flatten()]
    print(f"QAOA depth {layers} on {NODES} nodes / {len(EDGES)} edges from angles {start}")
    started = time.time()
    optimizer = qml.AdamOptimizer(stepsize)
    for iteration in range(1, iterations + 1):
        params, before = optimizer.step_and_cost(cost, params)
        value = -float(before)  # the expected cut at the angles this step started from
        log_metric("expected_cut", value, iteration_number=iteration)
    value = -float(cost(params))
    likeliest = bitstrings[int(np.argmax(probabilities(params)))]
    mine = {
        "host": host,
        "expected_cut": value,
        "bitstring": likeliest,
        "cut": cut_size(likeliest),
        "seconds": time.time() - started,
    }
    everyone = gather_to_master(mine, listener)
    if everyone is None:
        print(f"sent my best (cut {mine['cut']}, expected {value:.3f}) to algo-1")
        return
    best = max(everyone, key=lambda r: (r["cut"], r["expected_cut"]))
    save_job_result(
        {
            "cut": best["cut"],
            "max_cut": max_cut,
            "bitstring": best["bitstring"],
            "expected_cut": round(best["expected_cut"], 4),
            "approximation_ratio": round(best["expected_cut"] / max_cut, 4),
            "iterations": iterations,
            "layers": layers,
            "best_instance": best["host"],
            "instances": {r["host"]: round(r["expected_cut"], 4) for r in everyone},
        }
    )
    print(f"best of {len(everyone)} instance(s): cut {best['cut']} (maximum {max_cut})")
