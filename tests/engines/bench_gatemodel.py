"""Timings of the braket_sv engine (not a test; run ``python tests/engines/bench_gatemodel.py``).

* small: the 4-qubit, 10-layer variational program (40 RY with inputs + 30 CNOT, <Z0>,
  shots=0), new inputs each run: ``validate`` and ``run`` per task, 5 rounds of 200.
* large: a 22-qubit, depth-20 random circuit (each layer: RX/RY/RZ on every qubit, then a
  CNOT or CZ chain; <Z0>, shots=0): PennyLane ``lightning.qubit`` directly, the engine with
  cold caches (first sight of the text) and warm, and (once) the default simulator.

``--quick`` skips the default simulator's large run (about 10 s on 2 cores).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.gate_corpus import SV1_ARN, capabilities
from hybridjobs.engines import EngineRequest
from hybridjobs.engines.gatemodel import StateVectorEngine

HEADER = {"name": "braket.ir.openqasm.program", "version": "1"}


def small_source(qubits: int = 4, layers: int = 10) -> str:
    lines = ["OPENQASM 3.0;", *(f"input float t{k};" for k in range(qubits * layers))]
    lines.append(f"qubit[{qubits}] q;")
    for layer in range(layers):
        lines += [f"ry(t{layer * qubits + q}) q[{q}];" for q in range(qubits)]
        lines += [f"cnot q[{q}], q[{q + 1}];" for q in range(qubits - 1)]
    return "\n".join([*lines, "#pragma braket result expectation z(q[0])"])


def large_ops(qubits: int = 22, depth: int = 20, seed: int = 7) -> list[tuple[str, int, float]]:
    rng = random.Random(seed)
    ops: list[tuple[str, int, float]] = []
    for layer in range(depth):
        ops += [(rng.choice(("rx", "ry", "rz")), q, rng.uniform(0, 6.28)) for q in range(qubits)]
        ops += [("cnot" if layer % 2 == 0 else "cz", q, q + 1) for q in range(qubits - 1)]
    return ops


def large_source(ops: list[tuple[str, int, float]], qubits: int) -> str:
    lines = ["OPENQASM 3.0;", f"qubit[{qubits}] q;"]
    for name, a, b in ops:
        lines.append(
            f"{name}({b!r}) q[{a}];" if name.startswith("r") else f"{name} q[{a}], q[{b}];"
        )
    return "\n".join([*lines, "#pragma braket result expectation z(q[0])"])


def request(source: str, inputs: dict[str, float] | None, caps: str) -> EngineRequest:
    action = json.dumps({"braketSchemaHeader": HEADER, "source": source, "inputs": inputs})
    return EngineRequest("task", SV1_ARN, "braket_sv", action, 0, None, caps)


def rounds(label: str, tasks: list[EngineRequest], call: Callable[[EngineRequest], Any]) -> None:
    wall, cpu = [], []
    for _ in range(5):
        started, cpu_started = time.perf_counter(), time.process_time()
        for task in tasks:
            call(task)
        wall.append((time.perf_counter() - started) / len(tasks) * 1e3)
        cpu.append((time.process_time() - cpu_started) / len(tasks) * 1e3)
    print(
        f"  {label}: wall ms/task min {min(wall):.2f} median {statistics.median(wall):.2f}; "
        f"cpu ms/task min {min(cpu):.2f} median {statistics.median(cpu):.2f}"
    )


def small() -> None:
    source = small_source()
    caps = capabilities("braket_sv", 26)
    tasks = [
        request(source, {f"t{k}": random.uniform(-3, 3) for k in range(40)}, caps)
        for _ in range(200)
    ]
    engine = StateVectorEngine()
    started = time.perf_counter()
    engine.validate(tasks[0])
    engine.run(tasks[0])
    print(f"small (4 qubits, 70 gates): first validate+run {time.perf_counter() - started:.3f} s")
    rounds("validate", tasks, engine.validate)
    rounds("run", tasks, engine.run)


def large(quick: bool) -> None:
    import pennylane as qml

    from hybridjobs.engines import compiled, programs
    from hybridjobs.engines.facts import _facts

    qubits = 22
    ops = large_ops(qubits)
    source = large_source(ops, qubits)
    task = request(source, None, capabilities("braket_sv", 26))
    device = qml.device("lightning.qubit", wires=qubits)
    gates = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ, "cnot": qml.CNOT, "cz": qml.CZ}

    @qml.qnode(device)  # type: ignore[misc]
    def circuit() -> Any:
        for name, a, b in ops:
            if name.startswith("r"):
                gates[name](b, wires=a)
            else:
                gates[name](wires=[a, b])
        return qml.expval(qml.PauliZ(0))

    engine = StateVectorEngine()
    circuit()  # warm-up (JIT, imports)
    engine.run(request(small_source(), {f"t{k}": 0.1 for k in range(40)}, task.device_capabilities))
    times: dict[str, list[float]] = {"lightning.qubit": [], "engine cold": [], "engine warm": []}
    values: dict[str, float] = {}
    for _ in range(3):
        started = time.perf_counter()
        values["lightning.qubit"] = float(circuit())
        times["lightning.qubit"].append(time.perf_counter() - started)
        for label in ("engine cold", "engine warm"):
            if label == "engine cold":
                programs.clear_cache()
                compiled.clear_plans()
                _facts.clear()
            started = time.perf_counter()
            outcome = engine.run(task)
            times[label].append(time.perf_counter() - started)
            values[label] = json.loads(outcome.results_json)["resultTypes"][0]["value"]
    if not quick:
        from braket.default_simulator import StateVectorSimulator
        from braket.ir.openqasm import Program

        started = time.perf_counter()
        result = StateVectorSimulator().run_openqasm(Program(source=source), shots=0)
        times["default simulator"] = [time.perf_counter() - started]
        values["default simulator"] = result.resultTypes[0].value
    base = statistics.median(times["lightning.qubit"])
    print(f"large ({qubits} qubits, {len(ops)} gates, <Z0>): seconds, 3 interleaved rounds")
    for label, samples in times.items():
        median = statistics.median(samples)
        print(
            f"  {label}: {' '.join(f'{s:.2f}' for s in samples)}; median {median:.2f} "
            f"= {median / base:.2f}x lightning.qubit; <Z0> = {values[label]:.12f}"
        )


if __name__ == "__main__":
    small()
    large("--quick" in sys.argv)
