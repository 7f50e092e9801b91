"""Analog Hamiltonian simulation tasks (``braket.ir.ahs.program``), e.g. QuEra Aquila.

Tasks run on the default simulator package's Rydberg simulator (what
``LocalSimulator("braket_ahs")`` uses): a noise-free simulation of the program's atoms,
without the device's preparation, detection or atom-loss errors.

``validate`` applies the limits the device's capabilities state (``paradigm.lattice``,
``paradigm.rydberg``; SI units): number of sites, field of view, minimal spacings, ranges,
time steps and slew rates of the driving field and local detuning, program duration. Then
the simulator package's own program validators run with the device's figures as their
constants (one driving field, times starting at 0 and increasing, same end time, patterns,
...). A task that passes also fits this service's memory: the simulator holds the state at
every time step, about ``16 * 2**n * steps`` bytes for ``n`` filled sites.

The simulator package is imported when first needed, never when this module is imported.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hybridjobs.engines.base import EngineRequest, EngineResult, TaskFailed, TaskValidationError

AHS_ACTION = "braket.ir.ahs.program"
STEPS = 1000
"""Time points the simulator evaluates (``LocalSimulator("braket_ahs")``'s default)."""
QUERA_MAX_SHOTS_METADATA = 1000

_AMPLITUDE_BYTES = 16


def simulation_bytes(atoms: int, steps: int = STEPS) -> int:
    """Estimated peak memory of simulating ``atoms`` filled sites over ``steps`` time points:
    the state at every step, the sparse Hamiltonian, and the dense matrices of the small-system
    solver (used up to 1000 configurations)."""
    size = 2**atoms
    dense = _AMPLITUDE_BYTES * size * size if size <= 1000 else 0
    return int(_AMPLITUDE_BYTES * size * (steps + 4 * atoms + 4) + dense)


def max_atoms(max_task_memory_bytes: int, steps: int = STEPS) -> int:
    """The most filled sites whose simulation fits ``max_task_memory_bytes``."""
    atoms = 0
    while simulation_bytes(atoms + 1, steps) <= max_task_memory_bytes:
        atoms += 1
    return atoms


@dataclass(frozen=True)
class AhsLimits:
    """The limits of one AHS device, from its capabilities (SI units, as ``Decimal``).

    ``local`` holds the local-detuning limits, or is ``None`` when the device has none.
    """

    shots_range: tuple[int, int]
    sites_max: int
    width: Decimal
    height: Decimal
    spacing_radial_min: Decimal
    spacing_vertical_min: Decimal
    global_limits: Mapping[str, Any]
    local: Mapping[str, Any] | None


class AhsEngine:
    """Runs AHS programs for a device whose capabilities have a ``braket.ir.ahs.program``
    action and a QuEra-style AHS paradigm.

    ``max_task_memory_bytes`` limits the number of filled sites (see :func:`max_atoms`);
    ``None`` leaves it to the device's ``numberSitesMax``.
    """

    def __init__(self, max_task_memory_bytes: int | None = None) -> None:
        self._max_atoms = (
            None if max_task_memory_bytes is None else max_atoms(max_task_memory_bytes)
        )

    def validate(self, request: EngineRequest) -> None:
        """Raise TaskValidationError unless the program fits the device (see the module)."""
        self._prepare(request)

    def run(self, request: EngineRequest) -> EngineResult:
        """Simulate the program; the result parses as ``AnalogHamiltonianSimulationTaskResult``."""
        from braket.analog_hamiltonian_simulator.rydberg.rydberg_simulator import (
            RydbergAtomSimulator,
        )

        program = self._prepare(request)
        created_at = _timestamp()
        started = time.monotonic()
        try:
            raw = RydbergAtomSimulator().run(program, shots=request.shots, steps=STEPS)
        except MemoryError:
            raise
        except Exception as error:
            raise TaskFailed(f"The AHS simulator could not run the program: {error}") from error
        elapsed = time.monotonic() - started
        document = _result_document(raw, request, program, created_at)
        return EngineResult(
            results_json=str(document.json()),
            num_successful_shots=request.shots,
            action_metadata={"actionType": AHS_ACTION},
            simulated_seconds=elapsed,
        )

    def _prepare(self, request: EngineRequest) -> Any:
        device = request.device_arn.rsplit("/", 1)[-1] or request.device_arn
        limits = _limits_for(request.device_capabilities)
        low, high = limits.shots_range
        if not low <= request.shots <= high:
            raise TaskValidationError(
                f"shots: {device} runs {low} to {high} shots per task, not {request.shots}"
            )
        program = _ahs_program(request.action, device)
        _check_register(program, limits, device, self._max_atoms)
        _check_fields(program, limits, device)
        _run_program_validators(program, limits)
        return program


@functools.lru_cache(maxsize=16)
def _limits_for(capabilities_json: str) -> AhsLimits:
    try:
        document = json.loads(capabilities_json)
        if AHS_ACTION not in (document.get("action") or {}):
            raise ValueError(f"it has no {AHS_ACTION} action")
        lattice = document["paradigm"]["lattice"]
        rydberg = document["paradigm"]["rydberg"]
        low, high = document["service"]["shotsRange"]
        return AhsLimits(
            shots_range=(int(low), int(high)),
            sites_max=int(lattice["geometry"]["numberSitesMax"]),
            width=_dec(lattice["area"]["width"]),
            height=_dec(lattice["area"]["height"]),
            spacing_radial_min=_dec(lattice["geometry"]["spacingRadialMin"]),
            spacing_vertical_min=_dec(lattice["geometry"]["spacingVerticalMin"]),
            global_limits=rydberg["rydbergGlobal"],
            local=rydberg.get("rydbergLocal"),
        )
    except Exception as error:
        raise TaskValidationError(f"device: its AHS capabilities are unusable: {error}") from None


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _ahs_program(action: str, device: str) -> Any:
    from braket.ir.ahs import Program
    from braket.schema_common import BraketSchemaBase

    try:
        program = BraketSchemaBase.parse_raw_schema(action)
    except Exception as error:
        first = (str(error).strip() or type(error).__name__).splitlines()
        message = " ".join(first[:3])
        raise TaskValidationError(f"action: not a valid AHS program: {message}") from None
    if not isinstance(program, Program):
        name = program.braketSchemaHeader.name
        raise TaskValidationError(
            f"action: {name} is not supported by {device}; it runs {AHS_ACTION}"
        )
    return program


def _check_register(program: Any, limits: AhsLimits, device: str, max_atoms: int | None) -> None:
    register = program.setup.ahs_register
    sites = [(Decimal(x), Decimal(y)) for x, y in register.sites]
    filled = sum(1 for f in register.filling if f == 1)
    if len(sites) > limits.sites_max:
        raise TaskValidationError(
            f"action: the register has {len(sites)} sites; {device} takes at most "
            f"{limits.sites_max}"
        )
    if len(register.filling) != len(sites):
        raise TaskValidationError(
            f"action: filling has {len(register.filling)} entries for {len(sites)} sites"
        )
    if filled == 0:
        raise TaskValidationError("action: the register has no filled site")
    if max_atoms is not None and filled > max_atoms:
        raise TaskValidationError(
            f"action: the register has {filled} filled sites; this service simulates at most "
            f"{max_atoms} atoms per task"
        )
    xs, ys = [x for x, _ in sites], [y for _, y in sites]
    if max(xs) - min(xs) > limits.width or max(ys) - min(ys) > limits.height:
        raise TaskValidationError(
            f"action: the sites span {max(xs) - min(xs)} m by {max(ys) - min(ys)} m; {device}'s "
            f"field of view is {limits.width} m by {limits.height} m (coordinates are in meters)"
        )
    _check_spacing(sites, limits, device)


def _check_spacing(
    sites: Sequence[tuple[Decimal, Decimal]], limits: AhsLimits, device: str
) -> None:
    for i, (x1, y1) in enumerate(sites):
        for j in range(i + 1, len(sites)):
            x2, y2 = sites[j]
            distance = Decimal(math.hypot(x1 - x2, y1 - y2))
            if distance < limits.spacing_radial_min:
                raise TaskValidationError(
                    f"action: sites {i} and {j} are {float(distance):.3g} m apart; {device} needs at "
                    f"least {limits.spacing_radial_min} m between sites"
                )
    rows = sorted({y for _, y in sites})
    for lower, upper in itertools.pairwise(rows):
        if upper - lower < limits.spacing_vertical_min:
            raise TaskValidationError(
                f"action: rows at y={lower} m and y={upper} m are closer than {device}'s minimal "
                f"row spacing of {limits.spacing_vertical_min} m"
            )


def _check_fields(program: Any, limits: AhsLimits, device: str) -> None:
    """Values, time steps and slew rates of every time series within the device's limits."""
    g = limits.global_limits
    for field in program.hamiltonian.drivingFields:
        for name, series, value_range, slew in (
            ("amplitude", field.amplitude, g["rabiFrequencyRange"], g["rabiFrequencySlewRateMax"]),
            ("detuning", field.detuning, g["detuningRange"], g["detuningSlewRateMax"]),
            ("phase", field.phase, g["phaseRange"], None),
        ):
            _check_series(f"driving field {name}", series.time_series, value_range, slew, g, device)
    local_fields = program.hamiltonian.localDetuning
    if local_fields and limits.local is None:
        raise TaskValidationError(f"action: {device} has no local detuning")
    for field in local_fields:
        local = limits.local or {}
        _check_series(
            "local detuning magnitude",
            field.magnitude.time_series,
            local["detuningRange"],
            local["detuningSlewRateMax"],
            local,
            device,
        )
        low, high = (_dec(v) for v in local["siteCoefficientRange"])
        for index, value in enumerate(field.magnitude.pattern):
            if not low <= Decimal(value) <= high:
                raise TaskValidationError(
                    f"action: local detuning pattern value {value} (site {index}) is outside "
                    f"{device}'s range [{low}, {high}]"
                )


def _check_series(
    what: str,
    series: Any,
    value_range: Sequence[Any],
    slew_max: Any,
    timing: Mapping[str, Any],
    device: str,
) -> None:
    times = [Decimal(t) for t in series.times]
    values = [Decimal(v) for v in series.values]
    if len(times) != len(values):
        raise TaskValidationError(
            f"action: {what} has {len(times)} times and {len(values)} values; they must pair up"
        )
    low, high = (_dec(v) for v in value_range)
    for value in values:
        if not low <= value <= high:
            raise TaskValidationError(
                f"action: {what} value {value} is outside {device}'s range [{low}, {high}]"
            )
    time_max = timing.get("timeMax")
    if times and time_max is not None and times[-1] > _dec(time_max):
        raise TaskValidationError(
            f"action: {what} lasts {times[-1]} s; {device} runs programs of at most {time_max} s "
            "(times are in seconds)"
        )
    delta_min = _dec(timing.get("timeDeltaMin", 0))
    for (t1, v1), (t2, v2) in itertools.pairwise(zip(times, values, strict=True)):
        if t2 - t1 < delta_min:
            raise TaskValidationError(
                f"action: {what} has time points {t1} s and {t2} s closer than {device}'s "
                f"minimal step of {delta_min} s"
            )
        if slew_max is not None and t2 > t1 and abs(v2 - v1) / (t2 - t1) > _dec(slew_max):
            raise TaskValidationError(
                f"action: {what} changes faster than {device}'s maximal slew rate of "
                f"{_dec(slew_max)} per second between {t1} s and {t2} s"
            )


def _run_program_validators(program: Any, limits: AhsLimits) -> None:
    """The simulator package's own program validators, with the device's figures."""
    from braket.analog_hamiltonian_simulator.rydberg import constants
    from braket.analog_hamiltonian_simulator.rydberg.validators.capabilities_constants import (
        CapabilitiesConstants,
    )
    from braket.analog_hamiltonian_simulator.rydberg.validators.ir_validator import (
        validate_program,
    )

    g, local = limits.global_limits, limits.local
    local_range = local["detuningRange"] if local else None
    pattern_range = local["siteCoefficientRange"] if local else None
    capabilities = CapabilitiesConstants(
        BOUNDING_BOX_SIZE_X=limits.width,
        BOUNDING_BOX_SIZE_Y=limits.height,
        MAX_TIME=_dec(g["timeMax"]),
        MIN_DISTANCE=limits.spacing_radial_min,
        GLOBAL_AMPLITUDE_VALUE_MIN=_dec(g["rabiFrequencyRange"][0]),
        GLOBAL_AMPLITUDE_VALUE_MAX=_dec(g["rabiFrequencyRange"][1]),
        GLOBAL_DETUNING_VALUE_MIN=_dec(g["detuningRange"][0]),
        GLOBAL_DETUNING_VALUE_MAX=_dec(g["detuningRange"][1]),
        LOCAL_MAGNITUDE_SEQUENCE_VALUE_MIN=_dec(
            local_range[0] if local_range else constants.LOCAL_MAGNITUDE_SEQUENCE_VALUE_MIN
        ),
        LOCAL_MAGNITUDE_SEQUENCE_VALUE_MAX=_dec(
            local_range[1] if local_range else constants.LOCAL_MAGNITUDE_SEQUENCE_VALUE_MAX
        ),
        MAGNITUDE_PATTERN_VALUE_MIN=_dec(
            pattern_range[0] if pattern_range else constants.MAGNITUDE_PATTERN_VALUE_MIN
        ),
        MAGNITUDE_PATTERN_VALUE_MAX=_dec(
            pattern_range[1] if pattern_range else constants.MAGNITUDE_PATTERN_VALUE_MAX
        ),
        MAX_NET_DETUNING=_dec(constants.MAX_NET_DETUNING),
    )
    try:
        validate_program(program, capabilities)
    except Exception as error:
        raise TaskValidationError(f"action: {_validator_message(error)}") from None


def _validator_message(error: Exception) -> str:
    """The first reason of a pydantic validation error (or the error's own text)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            return str(found[0].get("msg", error))
    return (str(error).strip() or type(error).__name__).splitlines()[0]


def _result_document(raw: Any, request: EngineRequest, program: Any, created_at: str) -> Any:
    """The simulator's result with the task's metadata and the action as sent."""
    from braket.task_result import AdditionalMetadata, TaskMetadata
    from braket.task_result.quera_metadata_v1 import QueraMetadata

    quera = (
        QueraMetadata(numSuccessfulShots=request.shots)
        if "/quera/" in request.device_arn and request.shots <= QUERA_MAX_SHOTS_METADATA
        else None
    )
    return raw.copy(
        update={
            "taskMetadata": TaskMetadata(
                id=request.task_arn,
                shots=request.shots,
                deviceId=request.device_arn,
                createdAt=created_at,
                endedAt=_timestamp(),
                status="COMPLETED",
            ),
            "additionalMetadata": AdditionalMetadata(action=program, queraMetadata=quera),
        }
    )


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
