"""A job's page data beyond GetJob: its log lines and metric points (the queries behind
GetLogEvents and the Logs Insights metrics), its results archive and its checkpoints (the
objects the S3 surface serves), and the request of a copy of it.

Every function takes a GetJob answer, so ownership was checked by
:meth:`JobService.get_job` before anything here is read.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from typing import Any

from hybridjobs.jobdata import results_key
from hybridjobs.objects import NoSuchBucket, ObjectStore, ObjectStoreError, parse_s3_uri
from hybridjobs.store.base import JobStore

LOG_BATCH = 2000
"""Most lines one poll returns per instance (the page asks again at once for more)."""
MAX_RESULTS_ARCHIVE = 256 * 2**20
MAX_RESULTS_JSON = 2 * 2**20
MAX_CHECKPOINTS = 200


def instances_of(job: dict[str, Any]) -> list[str]:
    """``algo-1`` … ``algo-N`` of a job."""
    count = int(job["instanceConfig"].get("instanceCount", 1))
    return [f"algo-{n}" for n in range(1, count + 1)]


def log_lines(
    store: JobStore, job: dict[str, Any], after: dict[str, int]
) -> tuple[list[dict[str, Any]], bool]:
    """New lines of every instance after the sequence in ``after`` (by instance), oldest
    first per instance, and whether an instance has more than one batch waiting."""
    lines: list[dict[str, Any]] = []
    more = False
    for instance in instances_of(job):
        events = store.list_log_events(
            job["jobArn"], instance, after_sequence=after.get(instance, 0), limit=LOG_BATCH
        )
        more = more or len(events) == LOG_BATCH
        lines.extend(
            {
                "i": instance,
                "s": event.sequence,
                "t": int(event.timestamp.timestamp() * 1000),
                "m": event.message,
            }
            for event in events
        )
    return lines, more


def metric_points(store: JobStore, job: dict[str, Any], after: int) -> list[list[Any]]:
    """The job's metric points after the first ``after`` (in the order they were stored)
    as ``[name, instance, timestamp, value, iteration]``; non-finite values as None."""
    points = store.list_metrics(job["jobArn"])[after:]
    return [[p.name, p.instance, p.timestamp, _finite(p.value), p.iteration_number] for p in points]


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


@dataclass(frozen=True)
class ResultFile:
    name: str
    size: int


@dataclass(frozen=True)
class Results:
    """What ``model.tar.gz`` holds: its files, ``results.json`` parsed (when it is JSON),
    and the archive's bucket and key."""

    bucket: str
    key: str
    size: int
    files: list[ResultFile]
    results_json: Any | None


def results_of(objects: ObjectStore, job: dict[str, Any]) -> Results | None:
    """The job's results, or None when it saved none (or they cannot be read)."""
    bucket, key = results_key(str(job["outputDataConfig"]["s3Path"]))
    try:
        info = objects.head(bucket, key)
        if info.size > MAX_RESULTS_ARCHIVE:
            return Results(bucket, key, info.size, [], None)
        data = objects.get_bytes(bucket, key)
    except (ObjectStoreError, KeyError):
        return None
    files: list[ResultFile] = []
    parsed: Any | None = None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                files.append(ResultFile(member.name, member.size))
                if _base(member.name) == "results.json" and member.size <= MAX_RESULTS_JSON:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        try:
                            parsed = json.loads(handle.read())
                        except ValueError:
                            parsed = None
    except (tarfile.TarError, OSError, EOFError):
        return Results(bucket, key, len(data), [], None)
    return Results(bucket, key, len(data), files, parsed)


def _base(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def result_file(objects: ObjectStore, job: dict[str, Any], name: str) -> bytes | None:
    """One file of the job's ``model.tar.gz`` (None when missing)."""
    bucket, key = results_key(str(job["outputDataConfig"]["s3Path"]))
    try:
        data = objects.get_bytes(bucket, key)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = archive.getmember(name)
            handle = archive.extractfile(member) if member.isfile() else None
            return handle.read() if handle is not None else None
    except (ObjectStoreError, KeyError, tarfile.TarError, OSError, EOFError):
        return None


def results_archive(objects: ObjectStore, job: dict[str, Any]) -> bytes | None:
    bucket, key = results_key(str(job["outputDataConfig"]["s3Path"]))
    try:
        return objects.get_bytes(bucket, key)
    except (ObjectStoreError, KeyError):
        return None


def checkpoints_of(objects: ObjectStore, job: dict[str, Any]) -> list[ResultFile] | None:
    """The objects under the job's checkpoint location (at most ``MAX_CHECKPOINTS``), or
    None when the job has no checkpoint location."""
    uri = (job.get("checkpointConfig") or {}).get("s3Uri")
    if not uri:
        return None
    bucket, prefix = parse_s3_uri(str(uri))
    files: list[ResultFile] = []
    try:
        for info in objects.list(bucket, prefix):
            files.append(ResultFile(info.key, info.size))
            if len(files) >= MAX_CHECKPOINTS:
                break
    except (NoSuchBucket, ObjectStoreError):
        return []
    return files


COPIED_MEMBERS = (
    "algorithmSpecification",
    "associations",
    "checkpointConfig",
    "deviceConfig",
    "hyperParameters",
    "inputDataConfig",
    "instanceConfig",
    "outputDataConfig",
    "roleArn",
    "stoppingCondition",
)


def copy_request(job: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """A CreateJob request for a copy of ``job``: the same request under a new name (the
    name with a ``-copy-XXXX`` suffix, within the 50 characters AWS allows)."""
    suffix = f"-copy-{uuid.uuid4().hex[:6]}"
    base = job["jobName"].split("-copy-")[0]
    params = {name: job[name] for name in COPIED_MEMBERS if job.get(name) is not None}
    params["jobName"] = base[: 50 - len(suffix)] + suffix
    params["clientToken"] = str(uuid.uuid4())
    if tags:
        params["tags"] = dict(tags)
    return params
