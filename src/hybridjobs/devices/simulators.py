"""The three managed simulators (SV1, DM1, TN1) as this service offers them.

Their ``deviceCapabilities`` are built with the SDK's schema classes
(``GateModelSimulatorDeviceCapabilities``), so they parse with
``BraketSchemaBase.parse_raw_schema`` exactly as AWS's documents do. The operations, pragmas
and result types are those of the default simulator (``LocalSimulator("braket_sv")`` /
``("braket_dm")``), which is what runs the tasks here; the tests check that they still
match it. ``paradigm.qubitCount`` is this service's real limit, derived from the memory one
task may use, never more than AWS's own limit.

Only the SDK's schema packages are imported (cheap): the API process builds these at start.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from braket.device_schema import DeviceActionType
from braket.device_schema.device_execution_window import DeviceExecutionWindow, ExecutionDay
from braket.device_schema.device_service_properties_v1 import (
    DeviceDocumentation,
    DeviceServiceProperties,
)
from braket.device_schema.jaqcd_device_action_properties import JaqcdDeviceActionProperties
from braket.device_schema.openqasm_device_action_properties import (
    OpenQASMDeviceActionProperties,
)
from braket.device_schema.openqasm_program_set_device_action_properties import (
    OpenQASMProgramSetDeviceActionProperties,
)
from braket.device_schema.result_type import ResultType
from braket.device_schema.simulators import (
    GateModelSimulatorDeviceCapabilities,
    GateModelSimulatorDeviceParameters,
    GateModelSimulatorParadigmProperties,
)

from hybridjobs.devices.model import Device, DeviceStatus, DeviceType

SV1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1_ARN = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
PROVIDER = "Amazon Braket"

#: Engine name of each managed simulator, by ARN.
SIMULATOR_ENGINES: dict[str, str] = {
    SV1_ARN: "braket_sv",
    DM1_ARN: "braket_dm",
    TN1_ARN: "braket_tn",
}

#: AWS's own limits (qubits).
SV1_MAX_QUBITS = 34
DM1_MAX_QUBITS = 17
TN1_MAX_QUBITS = 50

SHOTS_MAX = 100_000
_AMPLITUDE_BYTES = 16  # complex128

_OBSERVABLES = ["x", "y", "z", "h", "i", "hermitian"]

_GATES = [
    "ccnot", "cnot", "cphaseshift", "cphaseshift00", "cphaseshift01", "cphaseshift10",
    "cswap", "cv", "cy", "cz", "ecr", "h", "i", "iswap", "pswap", "phaseshift", "rx", "ry",
    "rz", "s", "si", "swap", "t", "ti", "unitary", "v", "vi", "x", "xx", "xy", "y", "yy",
    "z", "zz",
]  # fmt: skip
_OPENQASM_ONLY_GATES = ["U", "GPhase", "gpi", "gpi2", "ms", "prx"]
_NOISE = [
    "amplitude_damping", "bit_flip", "depolarizing", "generalized_amplitude_damping", "kraus",
    "pauli_channel", "phase_damping", "phase_flip", "two_qubit_dephasing",
    "two_qubit_depolarizing",
]  # fmt: skip
_JAQCD_ONLY_NOISE = ["two_qubit_pauli_channel"]

_RESULT_TYPE_PRAGMAS = {
    "StateVector": "braket_result_type_state_vector",
    "DensityMatrix": "braket_result_type_density_matrix",
    "Sample": "braket_result_type_sample",
    "Expectation": "braket_result_type_expectation",
    "Variance": "braket_result_type_variance",
    "Probability": "braket_result_type_probability",
    "Amplitude": "braket_result_type_amplitude",
}
_NOISE_PRAGMAS = [
    "braket_noise_amplitude_damping", "braket_noise_bit_flip", "braket_noise_depolarizing",
    "braket_noise_kraus", "braket_noise_pauli_channel",
    "braket_noise_generalized_amplitude_damping", "braket_noise_phase_flip",
    "braket_noise_phase_damping", "braket_noise_two_qubit_dephasing",
    "braket_noise_two_qubit_depolarizing",
]  # fmt: skip
_ADJOINT_GRADIENT_PRAGMA = "braket_result_type_adjoint_gradient"


def max_qubits(base: int, budget: int, cap: int) -> int:
    """The largest ``n <= cap`` with ``base ** n * 16 <= budget`` bytes (``base`` 2 for a
    state vector, 4 for a density matrix). Raises ``ValueError`` when not one qubit fits."""
    n = 0
    while n < cap and base ** (n + 1) * _AMPLITUDE_BYTES <= budget:
        n += 1
    if n < 1:
        raise ValueError(f"a task memory budget of {budget} bytes cannot hold one qubit")
    return n


def simulator_devices(
    max_task_memory_bytes: int, *, include_program_sets: bool = False
) -> list[Device]:
    """SV1, DM1 and TN1 with qubit limits that fit ``max_task_memory_bytes``.

    SV1: ``min(34, n)`` with ``2**n * 16`` bytes within the budget; DM1: ``min(17, n)`` with
    ``4**n * 16``. TN1 here runs on a state-vector engine (this service has no tensor-network
    contraction), so its honest limit is the state-vector one, ``min(50, SV1's)``; it keeps
    AWS's rule that shots must be at least 1. ``include_program_sets`` adds the
    ``braket.ir.openqasm.program_set`` action to SV1 and DM1 (only when the engines run
    program sets).
    """
    sv_qubits = max_qubits(2, max_task_memory_bytes, SV1_MAX_QUBITS)
    dm_qubits = max_qubits(4, max_task_memory_bytes, DM1_MAX_QUBITS)
    tn_qubits = min(TN1_MAX_QUBITS, sv_qubits)
    return [
        _device(SV1_ARN, "SV1", _sv1_capabilities(sv_qubits, include_program_sets)),
        _device(DM1_ARN, "DM1", _dm1_capabilities(dm_qubits, include_program_sets)),
        _device(TN1_ARN, "TN1", _tn1_capabilities(tn_qubits)),
    ]


def _device(arn: str, name: str, capabilities: GateModelSimulatorDeviceCapabilities) -> Device:
    text = capabilities.json()
    document: dict[str, Any] = json.loads(text)
    return Device(
        arn=arn,
        name=name,
        provider=PROVIDER,
        device_type=DeviceType.SIMULATOR,
        status=DeviceStatus.ONLINE,
        capabilities=document,
        engine=SIMULATOR_ENGINES[arn],
        capabilities_json=text,
    )


def _service(min_shots: int, summary: str) -> DeviceServiceProperties:
    return DeviceServiceProperties(
        executionWindows=[
            DeviceExecutionWindow(
                executionDay=ExecutionDay.EVERYDAY,
                windowStartHour="00:00:00",
                windowEndHour="23:59:59",
            )
        ],
        shotsRange=(min_shots, SHOTS_MAX),
        deviceCost=None,
        deviceDocumentation=DeviceDocumentation(
            imageUrl=None, summary=summary, externalDocumentationUrl=None
        ),
        deviceLocation=None,
        updatedAt=None,
        getTaskPollIntervalMillis=None,
    )


def _result_types(
    names: Sequence[str], *, exact_only: Sequence[str] = (), min_shots: int = 0
) -> list[ResultType]:
    """Result types as the default simulator declares them: observables on the sampled
    ones, ``Sample`` needs shots, ``exact_only`` ones need ``shots=0``."""
    types = []
    for name in names:
        observables = _OBSERVABLES if name in ("Sample", "Expectation", "Variance") else None
        low = max(1 if name == "Sample" else 0, min_shots)
        high = 0 if name in exact_only else SHOTS_MAX
        types.append(ResultType(name=name, observables=observables, minShots=low, maxShots=high))
    return types


def _openqasm(
    operations: list[str],
    result_types: list[ResultType],
    *,
    noise: bool,
    result_pragmas_for: Sequence[str] = (),
) -> OpenQASMDeviceActionProperties:
    """``result_pragmas_for`` names the result types whose pragmas are accepted (default:
    those of ``result_types``; the default density-matrix simulator accepts them all)."""
    names = list(result_pragmas_for) or [rt.name for rt in result_types]
    supported = ["braket_unitary_matrix"]
    supported += [_RESULT_TYPE_PRAGMAS[name] for name in _RESULT_TYPE_PRAGMAS if name in names]
    forbidden = [pragma for name, pragma in _RESULT_TYPE_PRAGMAS.items() if name not in names]
    if noise:
        supported += _NOISE_PRAGMAS
    else:
        forbidden += _NOISE_PRAGMAS
    forbidden.append(_ADJOINT_GRADIENT_PRAGMA)
    return OpenQASMDeviceActionProperties(
        actionType=DeviceActionType.OPENQASM,
        version=["1"],
        supportedOperations=operations,
        supportedModifiers=[
            {"name": "ctrl", "max_qubits": None},
            {"name": "negctrl", "max_qubits": None},
            {"name": "pow", "exponent_types": ["int", "float"]},
            {"name": "inv"},
        ],
        supportedPragmas=supported,
        forbiddenPragmas=forbidden,
        forbiddenArrayOperations=[],
        requiresAllQubitsMeasurement=False,
        supportPhysicalQubits=False,
        requiresContiguousQubitIndices=False,
        supportsPartialVerbatimBox=False,
        supportsUnassignedMeasurements=True,
        disabledQubitRewiringSupported=False,
        supportedResultTypes=result_types,
    )


def _jaqcd(operations: list[str], result_types: list[ResultType]) -> JaqcdDeviceActionProperties:
    return JaqcdDeviceActionProperties(
        actionType=DeviceActionType.JAQCD,
        version=["1"],
        supportedOperations=operations,
        supportedResultTypes=result_types,
    )


def _program_set() -> OpenQASMProgramSetDeviceActionProperties:
    return OpenQASMProgramSetDeviceActionProperties(
        actionType=DeviceActionType.OPENQASM_PROGRAM_SET,
        version=["1"],
        maximumExecutables=100,
        maximumTotalShots=200_000,
    )


def _capabilities(
    qubits: int,
    service: DeviceServiceProperties,
    actions: dict[str, Any],
) -> GateModelSimulatorDeviceCapabilities:
    return GateModelSimulatorDeviceCapabilities(
        service=service,
        action=actions,
        paradigm=GateModelSimulatorParadigmProperties(qubitCount=qubits),
        deviceParameters=GateModelSimulatorDeviceParameters.schema(),
    )


def _sv1_capabilities(qubits: int, program_sets: bool) -> GateModelSimulatorDeviceCapabilities:
    names = [
        "Sample", "Expectation", "Variance", "Probability", "StateVector", "DensityMatrix",
        "Amplitude",
    ]  # fmt: skip
    exact = ("StateVector", "DensityMatrix", "Amplitude")
    result_types = _result_types(names, exact_only=exact)
    actions: dict[str, Any] = {
        DeviceActionType.JAQCD: _jaqcd(list(_GATES), result_types),
        DeviceActionType.OPENQASM: _openqasm(
            sorted(_GATES + _OPENQASM_ONLY_GATES, key=str.lower), result_types, noise=False
        ),
    }
    if program_sets:
        actions[DeviceActionType.OPENQASM_PROGRAM_SET] = _program_set()
    summary = "State vector simulator (the Braket default simulator, run by this service)."
    return _capabilities(qubits, _service(0, summary), actions)


def _dm1_capabilities(qubits: int, program_sets: bool) -> GateModelSimulatorDeviceCapabilities:
    names = ["Sample", "Expectation", "Variance", "Probability", "DensityMatrix"]
    result_types = _result_types(names, exact_only=("DensityMatrix",))
    gates = _GATES + _NOISE
    actions: dict[str, Any] = {
        DeviceActionType.JAQCD: _jaqcd(sorted(gates + _JAQCD_ONLY_NOISE), result_types),
        DeviceActionType.OPENQASM: _openqasm(
            sorted(gates + _OPENQASM_ONLY_GATES, key=str.lower),
            result_types,
            noise=True,
            result_pragmas_for=list(_RESULT_TYPE_PRAGMAS),
        ),
    }
    if program_sets:
        actions[DeviceActionType.OPENQASM_PROGRAM_SET] = _program_set()
    summary = "Density matrix simulator with noise (the Braket default simulator, run here)."
    return _capabilities(qubits, _service(0, summary), actions)


def _tn1_capabilities(qubits: int) -> GateModelSimulatorDeviceCapabilities:
    result_types = _result_types(["Sample", "Expectation", "Variance"], min_shots=1)
    actions: dict[str, Any] = {
        DeviceActionType.OPENQASM: _openqasm(
            sorted(_GATES + _OPENQASM_ONLY_GATES, key=str.lower), result_types, noise=False
        ),
    }
    summary = (
        "Tensor network simulator interface; this service runs it on a state-vector engine, "
        "so its qubit limit is the state-vector one."
    )
    return _capabilities(qubits, _service(1, summary), actions)
