"""Checks a gate-model task against its device's capabilities before it is stored.

Runs in the API process. The action's JSON is read and its schema header checked before
anything else; the header then picks the SDK model (``Program``, ``ProgramSet``, JAQCD
``Program``) that parses it, as ``BraketSchemaBase.parse_raw_schema`` would, but without
importing a module named by the request. Program facts come from the per-process
caches, so repeated program texts validate in microseconds after the first.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from hybridjobs.engines.base import EngineRequest, TaskValidationError

OPENQASM = "braket.ir.openqasm.program"
JAQCD = "braket.ir.jaqcd.program"
PROGRAM_SET = "braket.ir.openqasm.program_set"
ACTION_TYPES = (OPENQASM, JAQCD, PROGRAM_SET)
_EXACT_ONLY = {"StateVector", "Amplitude", "DensityMatrix"}


@dataclass(frozen=True)
class Action:
    """A parsed action: its type name and the SDK model (Program, ProgramSet, jaqcd
    Program)."""

    kind: str
    model: Any


def device_name(device_arn: str) -> str:
    """``SV1`` for ``arn:aws:braket:::device/quantum-simulator/amazon/sv1``."""
    last = device_arn.rsplit("/", 1)[-1]
    return last.upper() if len(last) <= 4 else last


def parse_action(action: str, capabilities: dict[str, Any], device: str) -> Action:
    """The action's model; TaskValidationError("action: ...") when it is not valid JSON of
    a gate-model action type the device accepts."""
    try:
        document = json.loads(action)
    except ValueError as error:
        raise TaskValidationError(f"action: not valid JSON ({error})") from None
    header = document.get("braketSchemaHeader") if isinstance(document, dict) else None
    kind = header.get("name") if isinstance(header, dict) else None
    if not isinstance(kind, str):
        raise TaskValidationError("action: braketSchemaHeader.name is missing")
    accepted = [name for name in (capabilities.get("action") or {}) if name in ACTION_TYPES]
    if kind not in accepted:
        raise TaskValidationError(
            f"action: action type {kind!r} is not supported by {device}; "
            f"supported: {', '.join(accepted) or 'none'}"
        )
    try:
        model = _plain_program(document) if kind == OPENQASM else None
        if model is None:
            model = _model_class(kind).parse_obj(document)
    except Exception as error:
        raise TaskValidationError(f"action: {_first_error(error)}") from None
    return Action(kind, model)


_PROGRAM_KEYS = frozenset({"braketSchemaHeader", "source", "inputs"})


def _plain_program(document: dict[str, Any]) -> Any | None:
    """The OpenQASM Program of ``document`` built without pydantic's (slow) validation when
    it plainly satisfies the schema: the exact header, a string source and inputs that are
    non-bool ints or finite floats under non-empty names. None: let pydantic decide."""
    import math

    from braket.ir.openqasm import Program

    if not _PROGRAM_KEYS.issuperset(document) or document["braketSchemaHeader"] != {
        "name": OPENQASM,
        "version": "1",
    }:
        return None
    source, inputs = document.get("source"), document.get("inputs")
    if not isinstance(source, str) or not (inputs is None or isinstance(inputs, dict)):
        return None
    for name, value in (inputs or {}).items():
        if not name or isinstance(value, bool):
            return None
        if not (isinstance(value, int) or (isinstance(value, float) and not math.isnan(value))):
            return None
    return Program.construct(
        braketSchemaHeader=Program._PROGRAM_HEADER, source=source, inputs=inputs
    )


def _model_class(kind: str) -> Any:
    """The SDK model of an action type (what ``BraketSchemaBase.parse_raw_schema`` would
    import for the header, without importing modules named by the request)."""
    if kind == OPENQASM:
        from braket.ir.openqasm import Program

        return Program
    if kind == JAQCD:
        from braket.ir.jaqcd import Program as JaqcdProgram

        return JaqcdProgram
    from braket.ir.openqasm import ProgramSet

    return ProgramSet


def _first_error(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(error)


def validate_request(request: EngineRequest, *, keep_trees: bool = False) -> Action:
    """Raise TaskValidationError naming the first problem; return the parsed action.

    Program facts are cached per process; ``keep_trees`` also keeps the parsed trees (worth
    it where the programs will run, wasted memory in the API process)."""
    device = device_name(request.device_arn)
    capabilities = _capabilities(request.device_capabilities)
    action = parse_action(request.action, capabilities, device)
    _check_device_parameters(request.device_parameters)
    low, high = (capabilities.get("service") or {}).get("shotsRange", [0, 2**63 - 1])
    if not low <= request.shots <= high:
        raise TaskValidationError(
            f"shots: {request.shots} is outside {device}'s range [{low}, {high}]"
        )
    actions = capabilities.get("action") or {}
    if action.kind == PROGRAM_SET:
        _check_program_set(action.model, request.shots, actions, device, capabilities, keep_trees)
    else:
        facts = _facts(action, keep_trees)
        inputs = getattr(action.model, "inputs", None) or {}
        _check_program(facts, inputs, request.shots, actions[action.kind], device, capabilities)
    return action


@functools.lru_cache(maxsize=16)
def _capabilities(document: str) -> dict[str, Any]:
    """The parsed capabilities (cached: a device sends the same text with every task;
    callers must not modify the result)."""
    try:
        parsed = json.loads(document)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _check_device_parameters(parameters: str | None) -> None:
    if not parameters:
        return
    try:
        document = json.loads(parameters)
    except ValueError as error:
        raise TaskValidationError(f"deviceParameters: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise TaskValidationError("deviceParameters: must be a JSON object")


def _facts(action: Action, keep_trees: bool) -> Any:
    from hybridjobs.engines.facts import ProgramProblem, jaqcd_facts, openqasm_facts
    from hybridjobs.engines.programs import ProgramSyntaxError

    if action.kind == JAQCD:
        return jaqcd_facts(action.model)
    try:
        return openqasm_facts(action.model.source, keep_tree=keep_trees)
    except ProgramSyntaxError as error:
        raise TaskValidationError(f"action: the OpenQASM program does not parse: {error}") from None
    except ProgramProblem as problem:
        raise TaskValidationError(f"action: {problem}") from None


def _check_program_set(
    program_set: Any,
    shots: int,
    actions: dict[str, Any],
    device: str,
    caps: dict[str, Any],
    keep_trees: bool,
) -> None:
    limits = actions[PROGRAM_SET]
    executables = program_set.num_executables
    most = limits.get("maximumExecutables")
    if most is not None and executables > most:
        raise TaskValidationError(
            f"action: the program set has {executables} executables; {device} runs at most {most}"
        )
    if shots <= 0:
        raise TaskValidationError("shots: a program set needs shots > 0")
    total = limits.get("maximumTotalShots")
    if total is not None and shots > total:
        raise TaskValidationError(
            f"shots: {shots} exceeds {device}'s {total} shots per program set"
        )
    if shots % executables:
        raise TaskValidationError(
            f"shots: {shots} cannot be split evenly over the program set's {executables} "
            "executables"
        )
    program_action = actions.get(OPENQASM)
    if program_action is None:
        raise TaskValidationError(f"action: {device} does not run OpenQASM programs")
    for index, program in enumerate(program_set.programs):
        facts = _facts(Action(OPENQASM, program), keep_trees)
        try:
            _check_program(
                facts, program.inputs or {}, shots // executables, program_action, device, caps
            )
        except TaskValidationError as error:
            raise TaskValidationError(
                str(error).replace("action: ", f"action: programs[{index}]: ", 1)
            ) from None


def _check_program(
    facts: Any,
    inputs: dict[str, Any],
    shots: int,
    action: dict[str, Any],
    device: str,
    caps: dict[str, Any],
) -> None:
    limit = (caps.get("paradigm") or {}).get("qubitCount")
    if limit is not None and facts.qubit_count is not None and facts.qubit_count > limit:
        raise TaskValidationError(
            f"action: the program uses {facts.qubit_count} qubits; {device} supports at most "
            f"{limit}"
        )
    _check_operations(facts, action, device)
    _check_results(facts.results, shots, action, device)
    missing = [name for name in facts.inputs if name not in inputs]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise TaskValidationError(f"action: no value given for input parameter(s) {names}")


def _normal(name: str) -> str:
    return name.lower().replace("_", "")


def _check_operations(facts: Any, action: dict[str, Any], device: str) -> None:
    from hybridjobs.engines.facts import NOISE_OPERATIONS

    supported = list(action.get("supportedOperations") or [])
    known = {_normal(name) for name in supported}
    for name in sorted(facts.operations):
        if _normal(name) in known:
            continue
        if _normal(name) in NOISE_OPERATIONS:
            raise TaskValidationError(
                f"action: noise {name!r} is not supported by {device}; noise needs a "
                "density-matrix simulator such as DM1"
            )
        raise TaskValidationError(
            f"action: gate {name!r} is not supported by {device}; supported: {', '.join(supported)}"
        )
    if "supportedModifiers" in action:
        allowed = {m.get("name") for m in action.get("supportedModifiers") or []}
        for modifier in sorted(facts.modifiers):
            if modifier not in allowed:
                raise TaskValidationError(
                    f"action: gate modifier {modifier!r} is not supported by {device}"
                )


def _check_results(results: Any, shots: int, action: dict[str, Any], device: str) -> None:
    if shots == 0 and not results:
        raise TaskValidationError(
            "action: a task with shots=0 needs at least one result type (for example "
            "expectation, probability or state_vector)"
        )
    declared = {rt.get("name"): rt for rt in action.get("supportedResultTypes") or []}
    for result in results:
        spec = declared.get(result.name)
        if spec is None:
            raise TaskValidationError(
                f"action: result type {result.name!r} is not supported by {device}; "
                f"supported: {', '.join(declared) or 'none'}"
            )
        if shots == 0 and result.name == "Sample":
            raise TaskValidationError("action: result type 'Sample' needs shots > 0")
        if shots > 0 and result.name in _EXACT_ONLY:
            raise TaskValidationError(
                f"action: result type {result.name!r} is only available with shots=0"
            )
        low, high = spec.get("minShots"), spec.get("maxShots")
        if (low is not None and shots < low) or (high is not None and shots > high):
            raise TaskValidationError(
                f"action: result type {result.name!r} on {device} needs shots in "
                f"[{low}, {high}]; the task has {shots}"
            )
        allowed = spec.get("observables")
        if allowed is not None:
            for observable in result.observables:
                if observable not in allowed:
                    raise TaskValidationError(
                        f"action: observable {observable!r} of result type {result.name!r} "
                        f"is not supported by {device}; supported: {', '.join(allowed)}"
                    )
