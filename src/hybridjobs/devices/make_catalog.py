"""Write the built-in emulated QPUs: ``python -m hybridjobs.devices.make_catalog [--out DIR]``.

Each device is built with the SDK's schema classes and written as one JSON file in the
shape ``aws braket get-device --device-arn ARN`` prints (``deviceCapabilities`` as a JSON
string), into ``src/hybridjobs/devices/builtin/`` by default. The figures (fidelities,
coherence times, topology, ranges) are representative of what the providers have published,
not live calibration data: every file says so, with :data:`SNAPSHOT_DATE`, in its top-level
``hybridjobs`` key and in ``service.deviceDocumentation.summary``. Per-qubit spreads come from
a seeded generator, so the output is the same on every run.

Gate-model devices list only their native gates in ``supportedOperations``: this service
emulates them with the SDK's ``LocalEmulator`` and has no compiler, so a task must already
be written in native gates on connected physical qubits.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from braket.device_schema import DeviceActionType
from braket.device_schema.device_execution_window import DeviceExecutionWindow, ExecutionDay
from braket.device_schema.device_service_properties_v1 import (
    DeviceDocumentation,
    DeviceServiceProperties,
)
from braket.device_schema.gate_model_qpu_paradigm_properties_v1 import (
    GateModelQpuParadigmProperties,
)
from braket.device_schema.ionq import (
    IonqDeviceCapabilities,
    IonqDeviceParameters,
    IonqProviderProperties,
)
from braket.device_schema.iqm import IqmDeviceCapabilities, IqmDeviceParameters
from braket.device_schema.openqasm_device_action_properties import (
    OpenQASMDeviceActionProperties,
)
from braket.device_schema.quera import QueraAhsParadigmProperties, QueraDeviceCapabilities
from braket.device_schema.result_type import ResultType
from braket.device_schema.rigetti import RigettiDeviceCapabilities, RigettiDeviceParameters
from braket.device_schema.standardized_gate_model_qpu_device_properties_v1 import (
    StandardizedGateModelQpuDeviceProperties,
)

SNAPSHOT_DATE = "2026-12-02"
NOTE = "representative calibration figures, not live data"
BUILT_IN_DIR = Path(__file__).resolve().parent / "builtin"

_RESULT_TYPE_PRAGMAS = [
    "braket_result_type_sample",
    "braket_result_type_expectation",
    "braket_result_type_variance",
    "braket_result_type_probability",
]
_FORBIDDEN_PRAGMAS = [
    "braket_unitary_matrix",
    "braket_result_type_state_vector",
    "braket_result_type_density_matrix",
    "braket_result_type_amplitude",
    "braket_result_type_adjoint_gradient",
    "braket_noise_amplitude_damping",
    "braket_noise_bit_flip",
    "braket_noise_depolarizing",
    "braket_noise_kraus",
    "braket_noise_pauli_channel",
    "braket_noise_generalized_amplitude_damping",
    "braket_noise_phase_flip",
    "braket_noise_phase_damping",
    "braket_noise_two_qubit_dephasing",
    "braket_noise_two_qubit_depolarizing",
]
_OBSERVABLES = ["x", "y", "z", "h", "i"]


def _summary(device: str) -> str:
    return f"{device}, emulated by hybridjobs: {NOTE} (snapshot {SNAPSHOT_DATE})."


def _service(shots: tuple[int, int], device: str) -> DeviceServiceProperties:
    return DeviceServiceProperties(
        executionWindows=[
            DeviceExecutionWindow(
                executionDay=ExecutionDay.EVERYDAY,
                windowStartHour="00:00:00",
                windowEndHour="23:59:59",
            )
        ],
        shotsRange=shots,
        deviceCost=None,
        deviceDocumentation=DeviceDocumentation(
            imageUrl=None, summary=_summary(device), externalDocumentationUrl=None
        ),
        deviceLocation=None,
        updatedAt=f"{SNAPSHOT_DATE}T00:00:00",
        getTaskPollIntervalMillis=None,
    )


def _openqasm(native_gates: Sequence[str], max_shots: int) -> OpenQASMDeviceActionProperties:
    """The OpenQASM action of an emulated QPU: native gates only, sampled result types."""
    result_types = [
        ResultType(name=name, observables=_OBSERVABLES, minShots=1, maxShots=max_shots)
        for name in ("Sample", "Expectation", "Variance")
    ]
    result_types.append(ResultType(name="Probability", minShots=1, maxShots=max_shots))
    return OpenQASMDeviceActionProperties(
        actionType=DeviceActionType.OPENQASM,
        version=["1"],
        supportedOperations=[gate.lower() for gate in native_gates],
        supportedModifiers=[],
        supportedPragmas=["verbatim", *_RESULT_TYPE_PRAGMAS],
        forbiddenPragmas=list(_FORBIDDEN_PRAGMAS),
        maximumQubitArrays=1,
        maximumClassicalArrays=1,
        forbiddenArrayOperations=[],
        requiresAllQubitsMeasurement=False,
        supportPhysicalQubits=True,
        requiresContiguousQubitIndices=False,
        supportsPartialVerbatimBox=True,
        supportsUnassignedMeasurements=True,
        disabledQubitRewiringSupported=True,
        supportedResultTypes=result_types,
    )


def _spread(rng: random.Random, median: float, width: float, low: float, high: float) -> float:
    """A value near ``median`` (gaussian, ``width`` wide), clipped to ``[low, high]``."""
    return round(min(high, max(low, rng.gauss(median, width))), 5)


def _standardized(
    rng: random.Random,
    qubits: Sequence[int],
    edges: Sequence[tuple[int, int]],
    *,
    t1: float,
    t2: float,
    one_qubit: tuple[str, float, float],
    readout: float,
    two_qubit: tuple[str, str, float, float],
) -> StandardizedGateModelQpuDeviceProperties:
    """Per-qubit and per-edge figures around the given medians (T1/T2 in seconds)."""
    rb_name, rb_median, rb_width = one_qubit
    gate, fidelity_type, tq_median, tq_width = two_qubit
    one = {}
    for q in qubits:
        t1_value = round(max(t1 * 0.3, rng.gauss(t1, t1 * 0.2)), 7)
        t2_value = round(min(t1_value, max(t2 * 0.3, rng.gauss(t2, t2 * 0.25))), 7)
        one[str(q)] = {
            "T1": {"value": t1_value, "standardError": None, "unit": "S"},
            "T2": {"value": t2_value, "standardError": None, "unit": "S"},
            "oneQubitFidelity": [
                {
                    "fidelityType": {"name": rb_name, "description": None},
                    "fidelity": _spread(rng, rb_median, rb_width, 0.99, 0.99995),
                    "standardError": None,
                },
                {
                    "fidelityType": {"name": "READOUT", "description": None},
                    "fidelity": _spread(rng, readout, 0.012, 0.85, 0.995),
                    "standardError": None,
                },
            ],
        }
    two = {
        f"{a}-{b}": {
            "twoQubitGateFidelity": [
                {
                    "direction": None,
                    "gateName": gate,
                    "fidelity": _spread(rng, tq_median, tq_width, 0.95, 0.9995),
                    "standardError": None,
                    "fidelityType": {"name": fidelity_type, "description": None},
                }
            ]
        }
        for a, b in edges
    }
    return StandardizedGateModelQpuDeviceProperties(oneQubitProperties=one, twoQubitProperties=two)


def _graph(edges: Sequence[tuple[int, int]]) -> dict[str, list[str]]:
    """A connectivity graph listing each edge once, from its lower qubit (as AWS does)."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(str(a), []).append(str(b))
    return graph


def _paradigm(
    qubit_count: int, native_gates: Sequence[str], edges: Sequence[tuple[int, int]] | None
) -> GateModelQpuParadigmProperties:
    return GateModelQpuParadigmProperties(
        qubitCount=qubit_count,
        nativeGateSet=list(native_gates),
        connectivity={
            "fullyConnected": edges is None,
            "connectivityGraph": {} if edges is None else _graph(edges),
        },
    )


def forte1() -> dict[str, Any]:
    """IonQ Forte-1: 36 trapped-ion qubits, all-to-all, native GPI, GPI2 and ZZ."""
    native = ["GPI", "GPI2", "ZZ"]
    capabilities = IonqDeviceCapabilities(
        service=_service((1, 5000), "IonQ Forte-1"),
        action={DeviceActionType.OPENQASM: _openqasm(native, 5000)},
        paradigm=_paradigm(36, native, None),
        provider=IonqProviderProperties(
            fidelity={"1Q": {"mean": 0.9998}, "2Q": {"mean": 0.994}, "spam": {"mean": 0.996}},
            timing={
                "T1": 100.0,
                "T2": 1.0,
                "1Q": 6.3e-05,
                "2Q": 0.00065,
                "readout": 0.00025,
                "reset": 2e-05,
            },
        ),
        standardized=None,
        deviceParameters=IonqDeviceParameters.schema(),
    )
    return _document(
        "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1", "Forte-1", "IonQ", capabilities
    )


GARNET_EDGES: list[tuple[int, int]] = [
    (1, 2), (1, 4), (2, 5), (3, 4), (3, 8), (4, 5), (4, 9), (5, 6), (5, 10), (6, 7),
    (6, 11), (7, 12), (8, 9), (8, 13), (9, 10), (9, 14), (10, 11), (10, 15), (11, 12),
    (11, 16), (12, 17), (13, 14), (14, 15), (14, 18), (15, 16), (15, 19), (16, 17),
    (16, 20), (18, 19), (19, 20),
]  # fmt: skip


def garnet() -> dict[str, Any]:
    """IQM Garnet: 20 superconducting qubits (1-20) on a square lattice, native PRX and CZ."""
    native = ["cz", "prx"]
    rng = random.Random(f"Garnet/{SNAPSHOT_DATE}")
    qubits = list(range(1, 21))
    capabilities = IqmDeviceCapabilities(
        service=_service((1, 20000), "IQM Garnet"),
        action={DeviceActionType.OPENQASM: _openqasm(native, 20000)},
        paradigm=_paradigm(20, native, GARNET_EDGES),
        provider=None,
        standardized=_standardized(
            rng,
            qubits,
            GARNET_EDGES,
            t1=4.5e-05,
            t2=2.8e-05,
            one_qubit=("SIMULTANEOUS_RANDOMIZED_BENCHMARKING", 0.9991, 0.0003),
            readout=0.975,
            two_qubit=("CZ", "CLIFFORD_RANDOMIZED_BENCHMARKING", 0.994, 0.002),
        ),
        deviceParameters=IqmDeviceParameters.schema(),
    )
    return _document(
        "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet", "Garnet", "IQM", capabilities
    )


ANKAA_ROWS, ANKAA_COLUMNS = 7, 12
ANKAA_DEAD_QUBITS = frozenset({26, 63})


def ankaa3_layout() -> tuple[list[int], list[tuple[int, int]]]:
    """Ankaa-3's qubits and couplers: a 7 x 12 square lattice (84 sites, qubit
    ``row * 12 + column``) with two sites out of service, so 82 qubits."""
    qubits = [q for q in range(ANKAA_ROWS * ANKAA_COLUMNS) if q not in ANKAA_DEAD_QUBITS]
    edges = []
    for q in qubits:
        row, column = divmod(q, ANKAA_COLUMNS)
        if column + 1 < ANKAA_COLUMNS and q + 1 not in ANKAA_DEAD_QUBITS:
            edges.append((q, q + 1))
        if row + 1 < ANKAA_ROWS and q + ANKAA_COLUMNS not in ANKAA_DEAD_QUBITS:
            edges.append((q, q + ANKAA_COLUMNS))
    return qubits, edges


def ankaa3() -> dict[str, Any]:
    """Rigetti Ankaa-3: 82 superconducting qubits on a square lattice, native RX, RZ, ISWAP."""
    native = ["rx", "rz", "iswap"]
    rng = random.Random(f"Ankaa-3/{SNAPSHOT_DATE}")
    qubits, edges = ankaa3_layout()
    capabilities = RigettiDeviceCapabilities(
        service=_service((10, 50000), "Rigetti Ankaa-3"),
        action={DeviceActionType.OPENQASM: _openqasm(native, 50000)},
        paradigm=_paradigm(len(qubits), native, edges),
        provider=None,
        standardized=_standardized(
            rng,
            qubits,
            edges,
            t1=2.4e-05,
            t2=1.6e-05,
            one_qubit=("RANDOMIZED_BENCHMARKING", 0.9989, 0.0004),
            readout=0.955,
            two_qubit=("ISWAP", "INTERLEAVED_RANDOMIZED_BENCHMARKING", 0.993, 0.003),
        ),
        pulse=None,
        deviceParameters=RigettiDeviceParameters.schema(),
    )
    return _document(
        "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3", "Ankaa-3", "Rigetti", capabilities
    )


def aquila() -> dict[str, Any]:
    """QuEra Aquila: up to 256 neutral atoms, analog Hamiltonian simulation (SI units)."""
    paradigm = {
        "qubitCount": 256,
        "lattice": {
            "area": {"width": "0.000075", "height": "0.000076"},
            "geometry": {
                "spacingRadialMin": "0.000004",
                "spacingVerticalMin": "0.000004",
                "positionResolution": "1E-7",
                "numberSitesMax": 256,
            },
        },
        "rydberg": {
            "c6Coefficient": "5.42E-24",
            "rydbergGlobal": {
                "rabiFrequencyRange": ["0", "15800000"],
                "rabiFrequencyResolution": "400",
                "rabiFrequencySlewRateMax": "250000000000000",
                "detuningRange": ["-125000000", "125000000"],
                "detuningResolution": "0.2",
                "detuningSlewRateMax": "2500000000000000",
                "phaseRange": ["-99", "99"],
                "phaseResolution": "5E-7",
                "timeResolution": "1E-9",
                "timeDeltaMin": "5E-8",
                "timeMin": "0",
                "timeMax": "0.000004",
            },
            "rydbergLocal": {
                "detuningRange": ["0", "125000000"],
                "detuningSlewRateMax": "1250000000000000",
                "siteCoefficientRange": ["0", "1"],
                "numberLocalDetuningSitesMax": "200",
                "spacingRadialMin": "0.000005",
                "timeResolution": "1E-9",
                "timeDeltaMin": "5E-8",
            },
        },
        "performance": {
            "lattice": {
                "positionErrorAbs": "2.5E-8",
                "sitePositionError": "2.5E-8",
                "atomPositionError": "2.5E-8",
                "fillingErrorTypical": "0.008",
                "fillingErrorWorst": "0.05",
                "vacancyErrorTypical": "0.001",
                "vacancyErrorWorst": "0.005",
                "atomLossProbabilityTypical": "0.005",
                "atomLossProbabilityWorst": "0.01",
                "atomCaptureProbabilityTypical": "0.0001",
                "atomCaptureProbabilityWorst": "0.001",
                "atomDetectionErrorFalsePositiveTypical": "0.001",
                "atomDetectionErrorFalsePositiveWorst": "0.005",
                "atomDetectionErrorFalseNegativeTypical": "0.008",
                "atomDetectionErrorFalseNegativeWorst": "0.05",
            },
            "rydberg": {
                "rydbergGlobal": {
                    "rabiFrequencyErrorRel": "0.03",
                    "rabiFrequencyGlobalErrorRel": "0.02",
                    "rabiFrequencyInhomogeneityRel": "0.02",
                    "groundDetectionError": "0.05",
                    "rydbergDetectionError": "0.1",
                    "groundPrepError": "0.01",
                    "rydbergPrepErrorBest": "0.05",
                    "rydbergPrepErrorWorst": "0.07",
                    "T1Single": "0.000075",
                    "T1Ensemble": "0.000075",
                    "T2StarSingle": "0.000005",
                    "T2StarEnsemble": "0.0000045",
                    "T2EchoSingle": "0.000007",
                    "T2EchoEnsemble": "0.000007",
                    "T2RabiSingle": "0.000005",
                    "T2RabiEnsemble": "0.000005",
                    "T2BlockadedRabiSingle": "0.000004",
                    "T2BlockadedRabiEnsemble": "0.000004",
                    "detuningError": "1000000",
                    "detuningInhomogeneity": "1000000",
                    "rabiAmplitudeRampCorrection": [
                        {"rampTime": "5E-8", "rabiCorrection": "0.92"},
                        {"rampTime": "7.5E-8", "rabiCorrection": "0.97"},
                        {"rampTime": "1E-7", "rabiCorrection": "1"},
                    ],
                },
                "rydbergLocal": {
                    "detuningErrorRms": "0.013",
                    "siteCoefficientErrorRms": "0.002",
                    "errorRateIncoherentBright": "0.07",
                    "errorRateIncoherentDark": "0.001",
                    "crosstalk": "0.001",
                },
            },
        },
    }
    capabilities = QueraDeviceCapabilities(
        service=_service((1, 1000), "QuEra Aquila"),
        action={
            DeviceActionType.AHS: {"actionType": DeviceActionType.AHS, "version": ["1"]},
        },
        paradigm=QueraAhsParadigmProperties.parse_obj(paradigm),
        deviceParameters={},
    )
    return _document(
        "arn:aws:braket:us-east-1::device/qpu/quera/Aquila", "Aquila", "QuEra", capabilities
    )


def _document(arn: str, name: str, provider: str, capabilities: Any) -> dict[str, Any]:
    """A ``get-device`` document: ``deviceCapabilities`` is the schema object's JSON."""
    return {
        "deviceArn": arn,
        "deviceName": name,
        "providerName": provider,
        "deviceType": "QPU",
        "deviceStatus": "ONLINE",
        "deviceCapabilities": str(capabilities.json(exclude_none=True)),
        "hybridjobs": {"note": NOTE, "snapshotDate": SNAPSHOT_DATE},
    }


def build_documents() -> dict[str, dict[str, Any]]:
    """The built-in devices' documents, by file name."""
    return {
        "ionq-forte-1.json": forte1(),
        "iqm-garnet.json": garnet(),
        "rigetti-ankaa-3.json": ankaa3(),
        "quera-aquila.json": aquila(),
    }


def write_catalog(directory: Path = BUILT_IN_DIR) -> list[Path]:
    """Write every built-in device's file into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, document in build_documents().items():
        path = directory / file_name
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=BUILT_IN_DIR, help="directory to write to")
    args = parser.parse_args(argv)
    for path in write_catalog(args.out):
        print(path)


if __name__ == "__main__":
    main()
