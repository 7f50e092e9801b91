"""What ``hybridjobs tasks results`` shows: a quantum task's ``results.json``, summarised.

A task's result document is ``s3://<outputS3Bucket>/<outputS3Directory>/results.json``, one
of the SDK's ``braket.task_result`` schemas:

* ``gate_model_task_result``: per-shot ``measurements`` (counted into a histogram keyed by
  bitstring, big-endian over ``measuredQubits``), or ``measurementProbabilities``, and the
  values of the requested ``resultTypes``;
* ``analog_hamiltonian_simulation_task_result``: per-shot pre- and post-sequences, counted
  as the SDK's ``get_counts`` does (``e`` empty site, ``r`` Rydberg, ``g`` ground state);
* ``program_set_task_result``: one gate-model-like result per program and input set.

Everything here is plain dict processing (no SDK schema classes), so any document a
future service writes still prints, as far as it is understood.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

GATE_MODEL = "braket.task_result.gate_model_task_result"
AHS = "braket.task_result.analog_hamiltonian_simulation_task_result"
PROGRAM_SET = "braket.task_result.program_set_task_result"
OPENQASM_PROGRAM = "braket.ir.openqasm.program"

BAR_WIDTH = 40
MAX_OUTCOMES = 64
MAX_VALUE_CHARS = 160
_AHS_STATES = ("e", "r", "g")


def schema_name(document: Mapping[str, Any]) -> str:
    """``braketSchemaHeader.name`` of a document ('' when it has none)."""
    header = document.get("braketSchemaHeader")
    return str(header.get("name", "")) if isinstance(header, Mapping) else ""


def bitstring_counts(measurements: list[list[Any]]) -> dict[str, int]:
    """Shots per outcome, keyed by bitstring and sorted by it (bits may be ints or strs)."""
    counts = Counter("".join(str(int(bit)) for bit in shot) for shot in measurements)
    return dict(sorted(counts.items()))


def ahs_state_counts(
    measurements: list[Mapping[str, Any]],
) -> tuple[dict[str, int], dict[str, int]]:
    """Outcome counts of an AHS result's successful shots (the SDK's ``get_counts``
    convention: ``e`` empty site, ``r`` Rydberg, ``g`` ground) and shots per status."""
    states: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for shot in measurements:
        status = str((shot.get("shotMetadata") or {}).get("shotStatus", "?"))
        statuses[status] += 1
        result = shot.get("shotResult") or {}
        pre, post = result.get("preSequence"), result.get("postSequence")
        if status != "Success" or pre is None or post is None:
            continue
        states[
            "".join(
                _AHS_STATES[0 if a == 0 else 1 if b == 0 else 2]
                for a, b in zip(pre, post, strict=False)
            )
        ] += 1
    return dict(sorted(states.items())), dict(sorted(statuses.items()))


def _gate_model_part(document: Mapping[str, Any]) -> dict[str, Any]:
    measurements = document.get("measurements")
    probabilities = document.get("measurementProbabilities")
    return {
        "measuredQubits": document.get("measuredQubits"),
        "measurementCounts": bitstring_counts(measurements) if measurements else None,
        "measurementProbabilities": dict(sorted(probabilities.items())) if probabilities else None,
        "resultTypes": [
            {"type": rt.get("type"), "value": rt.get("value")}
            for rt in document.get("resultTypes") or []
        ],
    }


def summarize(
    document: Mapping[str, Any], fetch: Callable[[str], Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The summary ``tasks results --json`` prints; ``fetch`` reads a program-set document
    that is referenced by a relative path instead of inlined."""
    name = schema_name(document)
    metadata = document.get("taskMetadata")
    shots = metadata.get("shots") if isinstance(metadata, Mapping) else None
    if name == GATE_MODEL or (not name and "measurements" in document):
        return {"kind": "gate_model", "shots": shots, **_gate_model_part(document)}
    if name == AHS:
        states, statuses = ahs_state_counts(document.get("measurements") or [])
        return {
            "kind": "ahs",
            "shots": shots,
            "shotStatuses": statuses,
            "successfulShots": statuses.get("Success", 0),
            "stateCounts": states,
        }
    if name == PROGRAM_SET:
        programs = []
        for index, program in enumerate(document.get("programResults") or []):
            program_doc = _inline(program, fetch)
            executables = []
            for executable in program_doc.get("executableResults") or []:
                executable_doc = _inline(executable, fetch)
                entry: dict[str, Any] = {"inputsIndex": executable_doc.get("inputsIndex")}
                if schema_name(executable_doc).endswith("executable_failure"):
                    entry["failure"] = executable_doc.get("failureMetadata") or executable_doc
                else:
                    entry.update(_gate_model_part(executable_doc))
                executables.append(entry)
            programs.append({"index": index, "executables": executables})
        return {"kind": "program_set", "shots": shots, "programs": programs}
    return {"kind": "unknown", "schema": name or None}


def _inline(value: Any, fetch: Callable[[str], Mapping[str, Any]] | None) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and fetch is not None:
        return fetch(value)
    return {}


def program_of(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The action a result document echoes (``additionalMetadata.action``), if any."""
    additional = document.get("additionalMetadata")
    action = additional.get("action") if isinstance(additional, Mapping) else None
    return action if isinstance(action, Mapping) else None


# -- text -----------------------------------------------------------------------------------


def bar_character(stream: Any = None) -> str:
    """``█`` when the output stream can encode it, else ``#``."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        "█".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return "#"
    return "█"


def histogram_lines(
    values: Mapping[str, float],
    *,
    as_probability: bool = False,
    bar: str = "#",
    width: int = BAR_WIDTH,
    limit: int = MAX_OUTCOMES,
) -> list[str]:
    """One line per outcome (in the order given): key, a bar scaled to the largest value,
    the count (or probability) and its share of the total; at most ``limit`` lines."""
    if not values:
        return ["  (none)"]
    total = sum(values.values()) or 1
    largest = max(values.values()) or 1
    key_width = max(len(k) for k in values)
    texts = {k: f"{v:.4f}" if as_probability else str(int(v)) for k, v in values.items()}
    value_width = max(len(t) for t in texts.values())
    lines = []
    for key, value in list(values.items())[:limit]:
        length = round(width * value / largest)
        if value and not length:
            length = 1
        lines.append(
            f"  {key:<{key_width}}  {bar * length:<{width}}  {texts[key]:>{value_width}}"
            f"  {100 * value / total:5.1f}%"
        )
    if len(values) > limit:
        lines.append(f"  ... {len(values) - limit} more outcomes (--json shows them all)")
    return lines


def result_type_label(result_type: Any) -> str:
    """``expectation z(0)``, ``probability(0, 1)``, ``amplitude 00, 11``, ``state_vector``."""
    if not isinstance(result_type, Mapping):
        return str(result_type)
    name = str(result_type.get("type", "?"))
    observable = result_type.get("observable")
    label = name
    if isinstance(observable, list) and observable:
        label += " " + "@".join(o if isinstance(o, str) else "hermitian" for o in observable)
    elif isinstance(observable, str):
        label += f" {observable}"
    targets = result_type.get("targets")
    if targets:
        label += f"({', '.join(map(str, targets))})"
    states = result_type.get("states")
    if states:
        label += " " + ", ".join(map(str, states))
    return label


def short_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``value`` as compact JSON, shortened to ``limit`` characters."""
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _gate_lines(part: Mapping[str, Any], bar: str) -> list[str]:
    lines: list[str] = []
    qubits = part.get("measuredQubits")
    on = f" (qubits {', '.join(map(str, qubits))})" if qubits else ""
    if part.get("measurementCounts"):
        lines.append(f"measurement counts{on}:")
        lines += histogram_lines(part["measurementCounts"], bar=bar)
    elif part.get("measurementProbabilities"):
        lines.append(f"measurement probabilities{on}:")
        lines += histogram_lines(part["measurementProbabilities"], as_probability=True, bar=bar)
    if part.get("resultTypes"):
        lines.append("result types:")
        labels = [result_type_label(rt["type"]) for rt in part["resultTypes"]]
        width = max(len(label) for label in labels)
        lines += [
            f"  {label:<{width}} = {short_value(rt['value'])}"
            for label, rt in zip(labels, part["resultTypes"], strict=True)
        ]
    return lines or ["no measurements and no result types"]


def summary_lines(summary: Mapping[str, Any], bar: str = "#") -> list[str]:
    """The text of a :func:`summarize` summary."""
    kind = summary.get("kind")
    if kind == "gate_model":
        return _gate_lines(summary, bar)
    if kind == "ahs":
        statuses = ", ".join(f"{n} {s}" for s, n in summary["shotStatuses"].items()) or "none"
        lines = [f"shots: {sum(summary['shotStatuses'].values())} ({statuses})"]
        lines.append("site states of successful shots (e empty, r Rydberg, g ground):")
        lines += histogram_lines(summary["stateCounts"], bar=bar)
        return lines
    if kind == "program_set":
        lines = []
        for program in summary["programs"]:
            for executable in program["executables"]:
                lines.append(f"program {program['index']}, inputs {executable['inputsIndex']}:")
                if "failure" in executable:
                    lines.append(f"  failed: {short_value(executable['failure'])}")
                else:
                    lines += ["  " + line for line in _gate_lines(executable, bar)]
        return lines or ["no program results"]
    return [f"a result document this CLI does not know ({summary.get('schema')}); --download it"]
