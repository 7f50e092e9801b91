"""Rules the service adds on top of the model's constraints (spec §1.4, §1.5, §6)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hybridjobs.errors import ValidationException
from hybridjobs.jobs.ports import JobFilter
from hybridjobs.timestamps import parse_iso8601

_DEVICE_ARN = re.compile(
    r"arn:aws[a-z\-]*:braket:[a-z0-9\-]*::device/(qpu|quantum-simulator)/[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+"
)
_LOCAL_DEVICE = re.compile(r"local:[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+")
_S3_URI = re.compile(r"s3://([^/]+)(/.*)?")
_HTTPS_S3_URI = re.compile(r"https://([^/]+)\.s3[.\-]([^/]*)amazonaws\.com(/.*)?")

# SearchJobs filter name -> (store field, operators allowed).
SEARCH_FILTERS: dict[str, tuple[str, frozenset[str]]] = {
    "jobArn": ("job_arn", frozenset({"EQUAL"})),
    "jobName": ("job_name", frozenset({"EQUAL", "CONTAINS"})),
    "deviceArn": ("device", frozenset({"EQUAL"})),
    "createdAt": ("created_at", frozenset({"EQUAL", "GT", "GTE", "LT", "LTE", "BETWEEN"})),
    # Extension: not in the AWS docs, handy for `hybridjobs jobs --status`.
    "status": ("status", frozenset({"EQUAL"})),
}


def device_problem(device: str) -> str | None:
    """Why ``device`` is not a Braket device ARN or ``local:<provider>/<name>``; else None."""
    if _DEVICE_ARN.fullmatch(device) or _LOCAL_DEVICE.fullmatch(device):
        return None
    return (
        f"deviceConfig.device: {device!r} is neither a Braket device ARN "
        "(arn:aws:braket:<region>::device/<qpu|quantum-simulator>/<provider>/<name>) "
        "nor an embedded simulator of the form local:<provider>/<name>"
    )


def s3_uri_problem(field: str, uri: str) -> str | None:
    """Why ``uri`` is not an S3 location we can read or write; else None."""
    if _S3_URI.fullmatch(uri) or _HTTPS_S3_URI.fullmatch(uri):
        return None
    return f"{field}: {uri!r} is not an S3 URI of the form s3://bucket/key"


def create_job_problems(params: dict[str, Any]) -> list[str]:
    """Every service rule a (model-valid) CreateJob request breaks."""
    problems: list[str] = []
    device = params["deviceConfig"]["device"]
    if (problem := device_problem(device)) is not None:
        problems.append(problem)
    uris: list[tuple[str, str]] = []
    script = params["algorithmSpecification"].get("scriptModeConfig")
    if script is not None:
        uris.append(("algorithmSpecification.scriptModeConfig.s3Uri", script["s3Uri"]))
    elif params["algorithmSpecification"].get("containerImage") is None:
        problems.append(
            "algorithmSpecification: needs scriptModeConfig or containerImage (or both)"
        )
    uris.append(("outputDataConfig.s3Path", params["outputDataConfig"]["s3Path"]))
    if params.get("checkpointConfig"):
        uris.append(("checkpointConfig.s3Uri", params["checkpointConfig"]["s3Uri"]))
    channels: set[str] = set()
    for index, channel in enumerate(params.get("inputDataConfig") or []):
        field = f"inputDataConfig[{index}]"
        uris.append(
            (
                f"{field}.dataSource.s3DataSource.s3Uri",
                channel["dataSource"]["s3DataSource"]["s3Uri"],
            )
        )
        if channel["channelName"] in channels:
            problems.append(f"{field}.channelName: {channel['channelName']!r} is used twice")
        channels.add(channel["channelName"])
    problems.extend(p for field, uri in uris if (p := s3_uri_problem(field, uri)) is not None)
    problems.extend(_definition_problems(params))
    return problems


def image_problems(
    params: dict[str, Any], image_problem: Callable[[str | None], str | None] | None
) -> list[str]:
    """Why the job's ``algorithmSpecification.containerImage.uri`` cannot run on this
    service (an image mapped to no environment: ``image_problem`` says how to map it)."""
    if image_problem is None:
        return []
    image = (params["algorithmSpecification"].get("containerImage") or {}).get("uri")
    problem = image_problem(image)
    return [problem] if problem is not None else []


MAX_ENTRY_POINT = 1024
_NAME_PART = re.compile(r"[^\s/\\\x00.:]+")
"""One dotted part of a module or attribute name: importlib takes any name a file can
have (``my-script`` too), but no path separators, spaces or NUL."""
MAX_VOLUME_GB = 16384
"""SageMaker's largest training volume; the model gives no maximum."""


def _definition_problems(params: dict[str, Any]) -> list[str]:
    """What the model allows but no job can run with: an entry point that is no
    importable ``module[:function]``, a volume beyond SageMaker's, a checkpoint path or
    channel name that is no path, a stopping condition without a condition."""
    problems: list[str] = []
    script = params["algorithmSpecification"].get("scriptModeConfig") or {}
    entry = script.get("entryPoint")
    if entry is not None and (problem := entry_point_problem(str(entry))) is not None:
        problems.append(f"algorithmSpecification.scriptModeConfig.entryPoint: {problem}")
    volume = (params.get("instanceConfig") or {}).get("volumeSizeInGb")
    if isinstance(volume, int) and volume > MAX_VOLUME_GB:
        problems.append(f"instanceConfig.volumeSizeInGb: {volume} is more than {MAX_VOLUME_GB} GB")
    local_path = (params.get("checkpointConfig") or {}).get("localPath")
    if local_path is not None and "\0" in str(local_path):
        problems.append("checkpointConfig.localPath: contains a NUL character")
    for index, channel in enumerate(params.get("inputDataConfig") or []):
        if channel.get("channelName") in (".", ".."):
            problems.append(
                f"inputDataConfig[{index}].channelName: {channel['channelName']!r} names no "
                "directory of its own"
            )
    stopping = params.get("stoppingCondition")
    if stopping is not None and stopping.get("maxRuntimeInSeconds") is None:
        problems.append(
            "stoppingCondition: has no maxRuntimeInSeconds (leave stoppingCondition out for "
            "the default)"
        )
    return problems


def entry_point_problem(entry: str) -> str | None:
    """Why ``entry`` is not ``module[.module…][:attribute[.attribute…]]``; else None."""
    if not entry:
        return "is empty"
    if len(entry) > MAX_ENTRY_POINT:
        return f"has {len(entry)} characters (at most {MAX_ENTRY_POINT})"
    module, colon, attribute = entry.partition(":")
    parts = module.split(".") + (attribute.split(".") if colon else [])
    if ":" in attribute or not all(part and _NAME_PART.fullmatch(part) for part in parts):
        shown = entry if len(entry) <= 80 else entry[:77] + "..."
        return f"{shown!r} is not an importable module[:function]"
    return None


def search_filters(
    raw_filters: list[dict[str, Any]],
    table: dict[str, tuple[str, frozenset[str]]] = SEARCH_FILTERS,
    exclusive: str | None = "jobArn",
) -> list[JobFilter]:
    """Search filters as store conditions; ValidationException on a misuse.

    ``table`` maps each filter name to its store field and operators (SearchJobs' by
    default); ``exclusive`` names a filter that cannot be combined with others.
    """
    problems: list[str] = []
    result: list[JobFilter] = []
    names = [f["name"] for f in raw_filters]
    if exclusive in names and len(raw_filters) > 1:
        problems.append(f"filters: the {exclusive} filter cannot be combined with other filters")
    for index, raw in enumerate(raw_filters):
        where = f"filters[{index}]"
        name, operator, values = raw["name"], raw["operator"], list(raw["values"])
        if name not in table:
            problems.append(f"{where}.name: {name!r} is not one of: {', '.join(table)}")
            continue
        field, operators = table[name]
        if operator not in operators:
            problems.append(
                f"{where}.operator: {name} supports {', '.join(sorted(operators))}, not {operator}"
            )
            continue
        if name == "createdAt":
            if operator == "BETWEEN" and len(values) != 2:
                problems.append(f"{where}.values: BETWEEN needs exactly two date-times")
                continue
            if operator in ("GT", "GTE", "LT", "LTE") and len(values) != 1:
                problems.append(f"{where}.values: {operator} needs exactly one date-time")
                continue
            try:
                values = [parse_iso8601(v) for v in values]
            except ValueError:
                problems.append(f"{where}.values: {values!r} are not RFC 3339 date-times")
                continue
        result.append(JobFilter(field, operator, tuple(values)))
    if problems:
        raise ValidationException("; ".join(problems))
    return result
