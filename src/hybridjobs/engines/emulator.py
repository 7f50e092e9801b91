"""Emulated gate-model QPUs, run with the SDK's ``LocalEmulator``.

The emulator is built from the device's ``deviceCapabilities`` by
``braket.emulation.LocalEmulator.from_device_properties``: its validation passes (native
gates, qubit count, connectivity, result types) and its noise model (depolarizing noise
from the one- and two-qubit fidelities, bit flips from readout fidelity) are the SDK's own.
Tasks run on the density-matrix simulator with that noise.

There is no compiler here. Every gate of a program, inside a verbatim box or not, must be
a native gate of the device on the device's physical qubits, and two-qubit gates must act
on connected qubits; qubits are never re-mapped (as if ``disableQubitRewiring`` were always
true, which the emulated devices therefore support). Noise pragmas and gate modifiers are
refused, as a QPU would.

Two normalizations are applied to the capabilities before the emulator is built, both to
work around SDK quirks and neither changing what the device is: a connectivity graph that
lists each coupler once is made symmetric when every two-qubit native gate is symmetric
(``cz``, ``iswap``, ``zz``, ...; otherwise the SDK treats ``cz $2, $1`` as unsupported), and
every qubit gets its own key in the graph, an all-to-all device an explicit complete graph
(the SDK's result-type check looks qubits up among the graph's keys).

``braket.emulation`` and the default simulator are imported when first needed, never when
this module is imported.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hybridjobs.engines.base import EngineRequest, EngineResult, TaskFailed, TaskValidationError

OPENQASM_ACTION = "braket.ir.openqasm.program"
EMULATOR_CACHE_SIZE = 32
"""How many distinct device capabilities each process keeps an emulator for."""

_SYMMETRIC_GATES = frozenset({"cz", "iswap", "zz", "xx", "yy", "xy", "ms", "swap", "cphaseshift"})
_AMPLITUDE_BYTES = 16


@dataclass(frozen=True)
class Emulation:
    """What the engine needs of one device: its emulator and the facts it checks against.

    ``neighbours`` is ``None`` for an all-to-all device; ``native_gates`` are OpenQASM gate
    names in lower case, in the device's order.
    """

    emulator: Any
    native_gates: tuple[str, ...]
    qubits: frozenset[int]
    neighbours: Mapping[int, frozenset[int]] | None
    shots_range: tuple[int, int]
    action_types: frozenset[str]


class EmulatorEngine:
    """Runs OpenQASM tasks on an emulated QPU described by ``request.device_capabilities``.

    ``max_task_memory_bytes`` caps one task's density matrix (``4**n * 16`` bytes for ``n``
    qubits used); ``None`` leaves it to the device's qubit count.
    """

    def __init__(self, max_task_memory_bytes: int | None = None) -> None:
        self._max_task_memory_bytes = max_task_memory_bytes

    def validate(self, request: EngineRequest) -> None:
        """Raise TaskValidationError unless the task can run as given (see the module)."""
        self._prepare(request)

    def run(self, request: EngineRequest) -> EngineResult:
        """Run the task with the device's noise; the result parses as ``GateModelTaskResult``."""
        from braket.circuits.serialization import IRType
        from braket.emulation.passes.circuit_passes import RemoveVerbatimTransformation

        from hybridjobs.engines.programs import CachedDensityMatrixSimulator

        program, circuit, emulation = self._prepare(request)
        created_at = _timestamp()
        started = time.monotonic()
        try:
            noisy = RemoveVerbatimTransformation().run(emulation.emulator.transform(circuit))
            ir = noisy.to_ir(IRType.OPENQASM, serialization_properties=_physical_qubits())
            raw = CachedDensityMatrixSimulator().run(ir, shots=request.shots)
        except MemoryError:
            raise
        except Exception as error:
            raise TaskFailed(f"The emulator could not run the task: {error}") from error
        elapsed = time.monotonic() - started
        result = _result_document(raw, request, program, circuit, created_at)
        return EngineResult(
            results_json=str(result.json()),
            num_successful_shots=request.shots,
            action_metadata={"actionType": OPENQASM_ACTION},
            simulated_seconds=elapsed,
        )

    def _prepare(self, request: EngineRequest) -> tuple[Any, Any, Emulation]:
        """The task's program, its circuit (wrapped in one verbatim box) and the device."""
        device = _device_name(request.device_arn)
        emulation = _emulation_for(request.device_capabilities)
        if OPENQASM_ACTION not in emulation.action_types:
            raise TaskValidationError(f"action: {device} does not run gate-model programs")
        low, high = emulation.shots_range
        if not low <= request.shots <= high:
            raise TaskValidationError(
                f"shots: {device} runs {low} to {high} shots per task, not {request.shots}"
            )
        _check_device_parameters(request.device_parameters)
        program = _openqasm_program(request.action, device)
        circuit = _circuit(program)
        _check_instructions(circuit, device, emulation)
        _check_qubits(circuit, device, emulation, self._max_task_memory_bytes)
        wrapped = _in_one_verbatim_box(circuit)
        from braket.emulation.pass_manager import EmulatorValidationError

        try:
            emulation.emulator.validate(wrapped)
        except EmulatorValidationError as error:
            raise TaskValidationError(f"action: {error} ({device})") from None
        return program, wrapped, emulation


def _device_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] or arn


@functools.lru_cache(maxsize=EMULATOR_CACHE_SIZE)
def _emulation_for(capabilities_json: str) -> Emulation:
    """Build (once per process and capabilities document) the device's emulator."""
    from braket.emulation.local_emulator import LocalEmulator
    from braket.schema_common import BraketSchemaBase

    try:
        document = json.loads(capabilities_json)
        paradigm = document["paradigm"]
        qubits = _qubit_labels(document)
        graph = _normalized_graph(paradigm, qubits)
        paradigm["connectivity"] = {
            "fullyConnected": bool(paradigm["connectivity"]["fullyConnected"]),
            "connectivityGraph": {str(q): [str(n) for n in graph[q]] for q in sorted(graph)},
        }
        capabilities = BraketSchemaBase.parse_raw_schema(json.dumps(document))
        emulator = LocalEmulator.from_device_properties(capabilities)
        low, high = document["service"]["shotsRange"]
    except Exception as error:
        raise TaskValidationError(f"device: its capabilities cannot be emulated: {error}") from None
    fully_connected = all(len(graph[q]) == len(qubits) - 1 for q in qubits)
    return Emulation(
        emulator=emulator,
        native_gates=tuple(str(g).lower() for g in paradigm["nativeGateSet"]),
        qubits=frozenset(qubits),
        neighbours=None if fully_connected else {q: frozenset(ns) for q, ns in graph.items()},
        shots_range=(int(low), int(high)),
        action_types=frozenset(document.get("action") or {}),
    )


def _qubit_labels(document: Mapping[str, Any]) -> list[int]:
    """The device's qubits: the standardized properties' labels, else ``0..qubitCount-1``
    (IonQ's documents, which the SDK standardizes that way)."""
    header = (document.get("braketSchemaHeader") or {}).get("name", "")
    standardized = document.get("standardized") or {}
    labels = standardized.get("oneQubitProperties") if "ionq" not in header else None
    if labels:
        return sorted(int(q) for q in labels)
    return list(range(int(document["paradigm"]["qubitCount"])))


def _normalized_graph(paradigm: Mapping[str, Any], qubits: list[int]) -> dict[int, set[int]]:
    """Every qubit's neighbours; symmetric when the two-qubit native gates are."""
    connectivity = paradigm["connectivity"]
    listed = connectivity.get("connectivityGraph") or {}
    if connectivity.get("fullyConnected") or not listed:
        return {q: {n for n in qubits if n != q} for q in qubits}
    graph: dict[int, set[int]] = {q: set() for q in qubits}
    symmetric = all(
        gate.lower() in _SYMMETRIC_GATES
        for gate in paradigm["nativeGateSet"]
        if _arity(gate.lower()) == 2
    )
    for node, neighbours in listed.items():
        for neighbour in neighbours:
            graph.setdefault(int(node), set()).add(int(neighbour))
            if symmetric:
                graph.setdefault(int(neighbour), set()).add(int(node))
    return graph


def _arity(gate: str) -> int:
    from braket.circuits.translations import BRAKET_GATES

    gate_class = BRAKET_GATES.get(gate)
    return int(gate_class.fixed_qubit_count()) if gate_class is not None else 0


def _check_device_parameters(device_parameters: str | None) -> None:
    """``deviceParameters``, when given, must be a Braket device-parameters document."""
    if not device_parameters:
        return
    from braket.schema_common import BraketSchemaBase

    try:
        document = json.loads(device_parameters)
        if isinstance(document, dict) and "braketSchemaHeader" in document:
            BraketSchemaBase.parse_raw_schema(device_parameters)
        elif not isinstance(document, dict):
            raise ValueError("it is not a JSON object")
    except Exception as error:
        raise TaskValidationError(f"deviceParameters: {_first_line(error)}") from None


def _openqasm_program(action: str, device: str) -> Any:
    from braket.ir.openqasm import Program
    from braket.schema_common import BraketSchemaBase

    try:
        program = BraketSchemaBase.parse_raw_schema(action)
    except Exception as error:
        message = _first_line(error)
        raise TaskValidationError(f"action: not a valid action document: {message}") from None
    if not isinstance(program, Program):
        name = program.braketSchemaHeader.name
        raise TaskValidationError(
            f"action: {name} is not supported by {device}; it runs {OPENQASM_ACTION}"
        )
    return program


def _circuit(program: Any) -> Any:
    """The program as a Braket ``Circuit`` (interpreted by the default simulator's
    interpreter through the service's parse cache, which never opens files)."""
    from braket.circuits.braket_program_context import BraketProgramContext

    from hybridjobs.engines.programs import interpret

    try:
        circuit = interpret(BraketProgramContext(), program.source, program.inputs).circuit
    except Exception as error:
        raise TaskValidationError(f"action: {_first_line(error)}") from None
    missing = sorted(str(p) for p in circuit.parameters)
    if missing:
        raise TaskValidationError(f"action: no value given for input(s) {', '.join(missing)}")
    return circuit


def _check_instructions(circuit: Any, device: str, emulation: Emulation) -> None:
    """Only native gates without modifiers, on connected qubits; no noise."""
    from braket.circuits.gate import Gate
    from braket.circuits.noise import Noise

    native = ", ".join(emulation.native_gates)
    for instruction in circuit.instructions:
        operator = instruction.operator
        if isinstance(operator, Noise):
            raise TaskValidationError(
                f"action: noise instruction '{operator.name}' is not supported on {device}, "
                "a QPU; its noise is the device's own"
            )
        if not isinstance(operator, Gate):
            continue
        name = _gate_name(operator)
        if name not in emulation.native_gates:
            raise TaskValidationError(
                f"action: gate '{name}' is not a native gate of {device} (native: {native}); "
                "compile the program to native gates first (this service emulates the device "
                "without a compiler), or run it on a simulator (SV1, DM1)"
            )
        if len(instruction.control) or instruction.power != 1:
            raise TaskValidationError(
                f"action: gate modifiers (ctrl, negctrl, pow, inv) are not supported on "
                f"{device}; write '{name}' out in native gates"
            )
        _check_coupler(name, [int(q) for q in instruction.target], device, emulation)


def _gate_name(operator: Any) -> str:
    from braket.circuits.translations import BRAKET_GATES

    for name, gate_class in BRAKET_GATES.items():
        if type(operator) is gate_class:
            return str(name).lower()
    return str(operator.name).lower()


def _check_coupler(gate: str, qubits: list[int], device: str, emulation: Emulation) -> None:
    if len(qubits) != 2 or emulation.neighbours is None:
        return
    a, b = qubits
    linked = emulation.neighbours.get(a, frozenset())
    if b not in linked and a in emulation.qubits and b in emulation.qubits:
        raise TaskValidationError(
            f"action: gate '{gate}' acts on qubits {a} and {b}, which are not connected on "
            f"{device} (qubit {a} is connected to {_ranges(linked) or 'no qubit'}); this "
            "service does not re-map or route qubits"
        )


def _check_qubits(
    circuit: Any, device: str, emulation: Emulation, max_task_memory_bytes: int | None
) -> None:
    used = sorted(int(q) for q in circuit.qubits)
    unknown = [q for q in used if q not in emulation.qubits]
    if unknown:
        raise TaskValidationError(
            f"action: qubit {unknown[0]} does not exist on {device} (its qubits are "
            f"{_ranges(emulation.qubits)}); this service does not re-map qubits, so address "
            "the device's physical qubits"
        )
    if max_task_memory_bytes is not None and 4 ** len(used) * _AMPLITUDE_BYTES > (
        max_task_memory_bytes
    ):
        limit = 0
        while 4 ** (limit + 1) * _AMPLITUDE_BYTES <= max_task_memory_bytes:
            limit += 1
        raise TaskValidationError(
            f"action: the program uses {len(used)} qubits; this service emulates {device} "
            f"with a density matrix and can hold at most {limit} qubits per task"
        )


def _in_one_verbatim_box(circuit: Any) -> Any:
    """The circuit with all its instructions in one verbatim box (existing boxes dropped),
    so the emulator's passes check every gate as native and on the physical qubits."""
    from braket.circuits import Circuit, Instruction
    from braket.circuits.compiler_directives import EndVerbatimBox, StartVerbatimBox

    body = [
        instruction
        for instruction in circuit.instructions
        if not isinstance(instruction.operator, StartVerbatimBox | EndVerbatimBox)
    ]
    wrapped = Circuit([Instruction(StartVerbatimBox()), *body, Instruction(EndVerbatimBox())])
    for result_type in circuit.result_types:
        wrapped.add_result_type(result_type)
    return wrapped


def _physical_qubits() -> Any:
    from braket.circuits.serialization import (
        OpenQASMSerializationProperties,
        QubitReferenceType,
    )

    return OpenQASMSerializationProperties(qubit_reference_type=QubitReferenceType.PHYSICAL)


def _result_document(
    raw: Any, request: EngineRequest, program: Any, circuit: Any, created_at: str
) -> Any:
    """The simulator's result as the service stores it: the task's own metadata, the action
    as sent, qubits under the device's labels and result types with their values.

    The simulator numbers qubits contiguously when it measures them itself (a program with
    result types and no ``measure``) and returns result types without values; the values
    are computed here by the SDK from the measurements, for the program's own result types.
    """
    from braket.circuits.measure import Measure
    from braket.circuits.serialization import IRType
    from braket.task_result import AdditionalMetadata, GateModelTaskResult, TaskMetadata
    from braket.task_result.gate_model_task_result_v1 import ResultTypeValue
    from braket.tasks import GateModelQuantumTaskResult

    measured = raw.measuredQubits
    if measured and not any(isinstance(i.operator, Measure) for i in circuit.instructions):
        labels = sorted(int(q) for q in circuit.qubits)
        measured = [labels[q] for q in measured]
    metadata = TaskMetadata(
        id=request.task_arn,
        shots=request.shots,
        deviceId=request.device_arn,
        createdAt=created_at,
        endedAt=_timestamp(),
        status="COMPLETED",
    )
    document = GateModelTaskResult(
        measurements=raw.measurements,
        measurementProbabilities=raw.measurementProbabilities,
        measuredQubits=measured,
        outputs=raw.outputs,
        taskMetadata=metadata,
        additionalMetadata=AdditionalMetadata(action=program),
    )
    if circuit.result_types:
        document.resultTypes = [rt.to_ir(IRType.JAQCD) for rt in circuit.result_types]
        computed = GateModelQuantumTaskResult.from_object(document).result_types
        document.resultTypes = [
            ResultTypeValue(type=rt.type, value=_plain(rt.value)) for rt in computed
        ]
    return document


def _plain(value: Any) -> Any:
    """A result value as JSON-ready Python (numpy arrays and scalars become lists/floats)."""
    return value.tolist() if hasattr(value, "tolist") else value


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ranges(numbers: Iterable[int]) -> str:
    """``1-5, 7, 9-10`` for the sorted distinct numbers."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    start = previous = None
    for n in [*ordered, None]:
        if n is not None and previous is not None and n == previous + 1:
            previous = n
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = n
    return ", ".join(parts)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
