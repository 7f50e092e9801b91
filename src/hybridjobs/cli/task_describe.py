"""How ``hybridjobs tasks`` shows one quantum task: the description of a GetQuantumTask
answer (``tasks describe``) and the small readings of a task the list shares with it."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from hybridjobs.cli.client import TERMINAL, job_id_of
from hybridjobs.cli.devices import device_name_of
from hybridjobs.cli.render import Style, duration, local_time, to_jsonable
from hybridjobs.cli.task_results import OPENQASM_PROGRAM, schema_name

RESULTS_FILE = "results.json"


def task_id_of(task_arn: str) -> str:
    """The last part of a quantum-task ARN (its UUID)."""
    return task_arn.rsplit("/", 1)[-1]


def task_duration(task: Mapping[str, Any], now: datetime.datetime | None = None) -> float | None:
    """Seconds from ``createdAt`` to ``endedAt`` (or to now while the task is unfinished)."""
    created: datetime.datetime | None = task.get("createdAt")
    if created is None:
        return None
    ended: datetime.datetime | None = task.get("endedAt")
    if ended is None:
        if task.get("status") in TERMINAL:
            return None
        ended = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (ended - created).total_seconds())


def results_key(task: Mapping[str, Any]) -> str:
    """The key of the task's ``results.json`` in its output bucket."""
    directory = str(task.get("outputS3Directory") or "").strip("/")
    return f"{directory}/{RESULTS_FILE}" if directory else RESULTS_FILE


_SHOWN = {
    "quantumTaskArn",
    "status",
    "failureReason",
    "deviceArn",
    "deviceParameters",
    "shots",
    "numSuccessfulShots",
    "outputS3Bucket",
    "outputS3Directory",
    "createdAt",
    "endedAt",
    "tags",
    "jobArn",
    "queueInfo",
    "associations",
    "actionMetadata",
}


def _field(style: Style, name: str, value: str) -> str:
    label = f"{name}:"
    return f"{style(f'{label:<17}', 'bold')} {value}".rstrip()


def _json_block(value: Any) -> list[str]:
    return ["  " + line for line in json.dumps(value, indent=2, sort_keys=True).splitlines()]


def _device_parameters_lines(style: Style, raw: Any) -> list[str]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return [_field(style, "Device params", str(raw))]
    if not parsed:
        return [_field(style, "Device params", "-")]
    return [_field(style, "Device params", ""), *_json_block(parsed)]


def program_lines(style: Style, action: Mapping[str, Any] | None) -> list[str]:
    """The program a completed task ran: OpenQASM source (and inputs) indented; for any
    other action type its schema name."""
    if action is None:
        return []
    name = schema_name(action)
    if name != OPENQASM_PROGRAM or not isinstance(action.get("source"), str):
        return [_field(style, "Program", f"{name or 'unknown'} (see `tasks results --download`)")]
    lines = [_field(style, "Program", "OpenQASM")]
    lines += ["  " + line for line in str(action["source"]).strip("\n").splitlines()]
    if action.get("inputs"):
        lines.append(_field(style, "Inputs", json.dumps(action["inputs"], sort_keys=True)))
    return lines


def describe_text(
    task: Mapping[str, Any],
    style: Style,
    job_name: str | None = None,
    action: Mapping[str, Any] | None = None,
) -> str:
    """A readable, complete description of a GetQuantumTask answer."""
    arn = str(task["quantumTaskArn"])
    lines = [
        _field(style, "ID", style(task_id_of(arn), "bold")),
        _field(style, "ARN", arn),
        _field(style, "Status", style.status(str(task["status"]))),
    ]
    if task.get("failureReason"):
        lines.append(_field(style, "Failure reason", style(str(task["failureReason"]), "red")))
    device_arn = str(task.get("deviceArn", "-"))
    lines.append(_field(style, "Device", f"{device_name_of(device_arn)}  ({device_arn})"))
    shots = str(task.get("shots", "-"))
    if task.get("numSuccessfulShots") is not None:
        shots += f" ({task['numSuccessfulShots']} successful)"
    lines.append(_field(style, "Shots", shots))
    lines += [
        _field(style, "Created", local_time(task.get("createdAt"))),
        _field(style, "Ended", local_time(task.get("endedAt"))),
        _field(style, "Duration", duration(task_duration(task))),
    ]
    bucket = task.get("outputS3Bucket")
    directory = str(task.get("outputS3Directory") or "").strip("/")
    lines.append(_field(style, "Output", f"s3://{bucket}/{directory}/"))
    if task.get("status") == "COMPLETED":
        lines.append(_field(style, "Results", f"s3://{bucket}/{results_key(task)}"))
    lines += _device_parameters_lines(style, task.get("deviceParameters"))
    metadata = task.get("actionMetadata") or {}
    if metadata:
        text = str(metadata.get("actionType", "?"))
        counts = [
            f"{metadata[key]} {label}"
            for key, label in (("programCount", "program(s)"), ("executableCount", "executable(s)"))
            if metadata.get(key) is not None
        ]
        if counts:
            text += f" ({', '.join(counts)})"
        lines.append(_field(style, "Action", text))
    queue = task.get("queueInfo")
    if queue:
        text = f"{queue.get('queue')} ({queue.get('queuePriority')})"
        if queue.get("position") not in (None, "None"):
            text += f", position {queue['position']}"
            if queue.get("message"):
                text += f": {queue['message']}"
        lines.append(_field(style, "Queue", text))
    if task.get("jobArn"):
        lines.append(
            _field(style, "Job", f"{job_name or job_id_of(task['jobArn'])}  ({task['jobArn']})")
        )
    tags = task.get("tags") or {}
    if tags:
        width = max(len(k) for k in tags)
        lines.append(_field(style, "Tags", ""))
        lines += [f"  {k:<{width}}  {v}" for k, v in sorted(tags.items())]
    else:
        lines.append(_field(style, "Tags", "-"))
    for association in task.get("associations") or []:
        lines.append(
            _field(style, "Association", f"{association.get('type')} {association.get('arn')}")
        )
    for name in sorted(set(task) - _SHOWN):
        if task[name] is not None:
            lines.append(_field(style, name, json.dumps(to_jsonable(task[name]), sort_keys=True)))
    lines += program_lines(style, action)
    return "\n".join(lines)
