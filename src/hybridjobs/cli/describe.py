"""The text of ``hybridjobs describe``: every member of GetJob, events as a timeline.

Known members get a readable line; any member this module does not know (a newer API)
is still printed, as JSON, so nothing GetJob returns is ever hidden.
"""

from __future__ import annotations

import json
from typing import Any

from hybridjobs.cli.render import Style, duration, event_line, job_duration, local_time, to_jsonable

JOB_INSTANCES = "(job instances)"
"""The usage report's key for a job's own instances when grouped by device."""

_SHOWN = {
    "jobName",
    "jobArn",
    "status",
    "failureReason",
    "deviceConfig",
    "instanceConfig",
    "createdAt",
    "startedAt",
    "endedAt",
    "billableDuration",
    "algorithmSpecification",
    "hyperParameters",
    "inputDataConfig",
    "outputDataConfig",
    "checkpointConfig",
    "stoppingCondition",
    "roleArn",
    "tags",
    "queueInfo",
    "associations",
    "events",
}


def _field(style: Style, name: str, value: str) -> str:
    label = f"{name}:"
    return f"{style(f'{label:<17}', 'bold')} {value}".rstrip()


def _mapping_lines(style: Style, title: str, values: dict[str, Any]) -> list[str]:
    if not values:
        return [_field(style, title, "-")]
    lines = [_field(style, title, "")]
    width = max(len(k) for k in values)
    lines.extend(f"  {k:<{width}}  {v}" for k, v in sorted(values.items()))
    return lines


def _cost_line(style: Style, usage: dict[str, Any]) -> str:
    """The estimated cost of a finished job from its usage report (by device)."""
    total = usage["total"]
    instances = sum(float(line["cost"]) for line in usage["lines"] if line["key"] == JOB_INSTANCES)
    prices = usage.get("prices") or {}
    tasks = int(total["tasks"])
    return _field(
        style,
        "Estimated cost",
        f"${float(total['cost']):.4f} (instances ${instances:.4f}, {tasks} quantum "
        f"task{'' if tasks == 1 else 's'} ${float(total['cost']) - instances:.4f}; USD at "
        f"{prices.get('source', '?')} "
        f"prices, snapshot {prices.get('snapshotDate', '?')})",
    )


def describe_text(job: dict[str, Any], style: Style, usage: dict[str, Any] | None = None) -> str:
    """A readable, complete description of a GetJob answer; with ``usage`` (the job's
    usage report by device, ``/_hybridjobs/usage``) its estimated cost too."""
    instance = job.get("instanceConfig", {})
    algorithm = job.get("algorithmSpecification", {})
    script = algorithm.get("scriptModeConfig") or {}
    lines = [
        _field(style, "Name", style(job["jobName"], "bold")),
        _field(style, "ARN", job["jobArn"]),
        _field(style, "Status", style.status(job["status"])),
    ]
    if job.get("failureReason"):
        lines.append(_field(style, "Failure reason", style(job["failureReason"], "red")))
    lines += [
        _field(style, "Device", job.get("deviceConfig", {}).get("device", "-")),
        _field(
            style,
            "Instances",
            f"{instance.get('instanceCount', 1)} x {instance.get('instanceType', '?')}, "
            f"{instance.get('volumeSizeInGb', '?')} GB volume",
        ),
        _field(style, "Created", local_time(job.get("createdAt"))),
        _field(style, "Started", local_time(job.get("startedAt"))),
        _field(style, "Ended", local_time(job.get("endedAt"))),
        _field(style, "Duration", duration(job_duration(job))),
    ]
    if job.get("billableDuration") is not None:
        lines.append(_field(style, "Billable", f"{job['billableDuration']} ms"))
    if usage is not None and usage.get("lines"):
        lines.append(_cost_line(style, usage))
    if script:
        lines.append(_field(style, "Entry point", str(script.get("entryPoint", "-"))))
        compression = script.get("compressionType", "NONE")
        lines.append(_field(style, "Source", f"{script.get('s3Uri', '-')} ({compression})"))
    if algorithm.get("containerImage"):
        lines.append(_field(style, "Image", str(algorithm["containerImage"].get("uri"))))
    lines += _mapping_lines(style, "Hyperparameters", job.get("hyperParameters") or {})
    channels = {
        c["channelName"]: c["dataSource"]["s3DataSource"]["s3Uri"]
        for c in job.get("inputDataConfig") or []
    }
    lines += _mapping_lines(style, "Input channels", channels)
    lines.append(_field(style, "Output", job.get("outputDataConfig", {}).get("s3Path", "-")))
    checkpoint = job.get("checkpointConfig")
    if checkpoint:
        where = checkpoint.get("s3Uri", "-")
        if checkpoint.get("localPath"):
            where += f" <-> {checkpoint['localPath']}"
        lines.append(_field(style, "Checkpoints", where))
    runtime = (job.get("stoppingCondition") or {}).get("maxRuntimeInSeconds")
    if runtime is not None:
        lines.append(_field(style, "Max runtime", f"{runtime} s ({duration(float(runtime))})"))
    lines.append(_field(style, "Role", str(job.get("roleArn", "-"))))
    lines += _mapping_lines(style, "Tags", job.get("tags") or {})
    queue = job.get("queueInfo")
    if queue:
        text = f"{queue.get('queue')} position {queue.get('position')}"
        if queue.get("message"):
            text += f" ({queue['message']})"
        lines.append(_field(style, "Queue", text))
    for association in job.get("associations") or []:
        lines.append(_field(style, "Association", f"{association['type']} {association['arn']}"))
    for name in sorted(set(job) - _SHOWN):
        lines.append(_field(style, name, json.dumps(to_jsonable(job[name]), sort_keys=True)))
    events = job.get("events") or []
    lines.append(_field(style, "Events", "" if events else "-"))
    origin = job.get("createdAt")
    lines.extend("  " + event_line(style, event, origin) for event in events)
    return "\n".join(lines)
