"""``hybridjobs tasks``: list, describe, read the results of and cancel quantum tasks.

``hybridjobs tasks`` (or ``tasks list``) is SearchQuantumTasks, newest first, with
GetQuantumTask per row for the job link; ``tasks describe``, ``tasks results`` and
``tasks cancel`` take TASK: a quantum-task ARN or the UUID at its end.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import Connection, job_id_of, resolve_job
from hybridjobs.cli.devices import device_name_of, resolve_device_arn
from hybridjobs.cli.exits import JOB_FAILED, OK, CliError, UsageError
from hybridjobs.cli.parsing import add_command, since, status_list
from hybridjobs.cli.render import Output, duration, local_time, table, to_jsonable
from hybridjobs.cli.task_describe import (
    RESULTS_FILE,
    describe_text,
    results_key,
    task_duration,
    task_id_of,
)
from hybridjobs.cli.task_results import (
    bar_character,
    program_of,
    summarize,
    summary_lines,
)

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

STATUSES = ("CREATED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")
PAGE_SIZE = 100
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_TASK_ARN = re.compile(r"arn:[\w-]+:braket:[^:]*:[^:]*:quantum-task/[^/]+")
_TASK_HELP = "quantum-task ARN or task id (the UUID at the end of the ARN)"


def register(subparsers: Subparsers) -> None:
    tasks = add_command(
        subparsers,
        "tasks",
        help="list quantum tasks (newest first); describe, show results of or cancel one",
        description=(
            "List quantum tasks, newest first: id, status, device, shots, created, duration "
            "and the hybrid job that sent the task. The subcommands describe a task, show its "
            "results (measurement counts, result types, AHS shots) or cancel it."
        ),
        examples=[
            "hybridjobs tasks",
            "hybridjobs tasks --status COMPLETED --device SV1 --limit 10",
            "hybridjobs tasks --job qaoa-1718000000000 --json",
            "hybridjobs tasks describe 3f6c1a52-8d0e-4b7e-9a51-2c4d6e8f0a1b",
            "hybridjobs tasks results TASK --download ./out",
            "hybridjobs tasks cancel TASK",
        ],
    )
    _add_list_options(tasks)
    tasks.set_defaults(handler=_list)
    commands = tasks.add_subparsers(
        dest="tasks_command",
        metavar="SUBCOMMAND",
        required=False,
        help="list (the default), describe, results or cancel",
    )

    listing = add_command(
        commands,
        "list",
        help="list quantum tasks, newest first (the default)",
        description="List quantum tasks, newest first (the same as `hybridjobs tasks`).",
        examples=["hybridjobs tasks list --status RUNNING,QUEUED", "hybridjobs tasks list --json"],
    )
    _add_list_options(listing)
    listing.set_defaults(handler=_list)

    describe = add_command(
        commands,
        "describe",
        help="show everything about a quantum task",
        description=(
            "Show everything GetQuantumTask returns for TASK (with its queue position): "
            "status and failure reason, device, shots, output location, device parameters, "
            "tags and the hybrid job that sent it; for a completed task also the program it "
            "ran (echoed in its results.json)."
        ),
        examples=[
            "hybridjobs tasks describe 3f6c1a52-8d0e-4b7e-9a51-2c4d6e8f0a1b",
            "hybridjobs tasks describe TASK --json",
        ],
    )
    describe.add_argument("task", metavar="TASK", help=_TASK_HELP)
    describe.add_argument("--json", action="store_true", help="print GetQuantumTask's answer")
    describe.set_defaults(handler=_describe)

    results = add_command(
        commands,
        "results",
        help="show (or download) a quantum task's results",
        description=(
            "Show the results of TASK (its results.json, read through the S3 API): measurement "
            "counts as a histogram sorted by bitstring, result-type values, or the shots of an "
            "analog (AHS) program. Exits 1 when the task has not COMPLETED."
        ),
        examples=[
            "hybridjobs tasks results 3f6c1a52-8d0e-4b7e-9a51-2c4d6e8f0a1b",
            "hybridjobs tasks results TASK --json",
            "hybridjobs tasks results TASK --download ./out",
        ],
    )
    results.add_argument("task", metavar="TASK", help=_TASK_HELP)
    results.add_argument("--download", metavar="DIR", type=Path, help="write results.json here")
    results.add_argument("--json", action="store_true", help="print the summary as JSON")
    results.set_defaults(handler=_results)

    cancel = add_command(
        commands,
        "cancel",
        help="cancel a queued or running quantum task",
        description=(
            "Cancel TASK (CancelQuantumTask): a queued task is CANCELLED at once, a running "
            "one goes CANCELLING. Cancelling a finished task is a ConflictException (exit 3)."
        ),
        examples=["hybridjobs tasks cancel 3f6c1a52-8d0e-4b7e-9a51-2c4d6e8f0a1b"],
    )
    cancel.add_argument("task", metavar="TASK", help=_TASK_HELP)
    cancel.set_defaults(handler=_cancel)

    for child in (listing, describe, results, cancel):
        _inherit_from(tasks, child)


def _add_list_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status",
        action="append",
        type=status_list(STATUSES),
        help="only tasks in these statuses (comma-separated or repeated)",
    )
    parser.add_argument(
        "--device", metavar="DEVICE", help="only tasks of this device (ARN or name)"
    )
    parser.add_argument(
        "--job", metavar="JOB", help="only tasks sent by this hybrid job (ARN, id or name)"
    )
    parser.add_argument(
        "--since",
        type=since,
        help="only tasks created since: a duration (30m, 2h, 7d) or a date (2024-05-01[T12:00])",
    )
    parser.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _inherit_from(parent: argparse.ArgumentParser, child: argparse.ArgumentParser) -> None:
    """Options a subcommand shares with ``tasks`` keep the value given before the
    subcommand (``tasks --endpoint URL describe TASK``): argparse would otherwise overwrite
    it with the subcommand's default."""
    parent_dests = {action.dest for action in parent._actions}
    for action in child._actions:
        if action.dest in parent_dests and action.dest != "help":
            action.default = argparse.SUPPRESS


# -- service calls --------------------------------------------------------------------------


def search_tasks(
    connection: Connection, filters: list[dict[str, Any]], limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Quantum-task summaries matching ``filters``, newest first, page by page."""
    token: str | None = None
    while True:
        size = PAGE_SIZE if limit is None else max(1, min(PAGE_SIZE, limit))
        request: dict[str, Any] = {"filters": filters, "maxResults": size}
        if token:
            request["nextToken"] = token
        page = connection.braket.search_quantum_tasks(**request)
        yield from page.get("quantumTasks", [])
        token = page.get("nextToken")
        if not token:
            return


def get_task(connection: Connection, task_arn: str) -> dict[str, Any]:
    """GetQuantumTask with the queue position."""
    task: dict[str, Any] = connection.braket.get_quantum_task(
        quantumTaskArn=task_arn, additionalAttributeNames=["QueueInfo"]
    )
    task.pop("ResponseMetadata", None)
    return task


def resolve_task(connection: Connection, reference: str) -> dict[str, Any]:
    """GetQuantumTask for ``reference``: a quantum-task ARN or the UUID at the end of one.

    A UUID is tried as a task of the caller's account in the selected region first, then
    looked for among every task SearchQuantumTasks lists (tasks made in other regions).
    """
    from botocore.exceptions import ClientError

    reference = reference.strip()
    if _TASK_ARN.fullmatch(reference):
        return get_task(connection, reference)
    if not _UUID.fullmatch(reference):
        raise UsageError(f"{reference!r} is not a quantum-task ARN or task id (a UUID)")
    task_id = reference.lower()
    arn = f"arn:aws:braket:{connection.region}:{connection.account_id()}:quantum-task/{task_id}"
    try:
        return get_task(connection, arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    for summary in search_tasks(connection, []):
        if task_id_of(summary["quantumTaskArn"]).lower() == task_id:
            return get_task(connection, summary["quantumTaskArn"])
    raise CliError(
        f"no quantum task has the ARN or id {reference!r}", code="ResourceNotFoundException"
    )


class JobNames:
    """Job ARN -> job name (GetJob), each asked once; the job's id when GetJob fails."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._names: dict[str, str] = {}

    def __call__(self, job_arn: str | None) -> str | None:
        if not job_arn:
            return None
        if job_arn not in self._names:
            from botocore.exceptions import ClientError

            try:
                self._names[job_arn] = str(self.connection.get_job(job_arn)["jobName"])
            except ClientError:
                self._names[job_arn] = job_id_of(job_arn)
        return self._names[job_arn]


def read_results(connection: Connection, task: Mapping[str, Any]) -> bytes | None:
    """The bytes of the task's ``results.json``; None when there is none (yet)."""
    return _read_object(connection, str(task["outputS3Bucket"]), results_key(task))


def _read_object(connection: Connection, bucket: str, key: str) -> bytes | None:
    from botocore.exceptions import ClientError

    try:
        body = connection.s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchBucket"):
            return None
        raise
    data: bytes = body.read()
    return data


# -- list -----------------------------------------------------------------------------------


def _filters(connection: Connection, args: argparse.Namespace) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    statuses = sorted({s for group in args.status or [] for s in group})
    if statuses:
        filters.append({"name": "status", "operator": "EQUAL", "values": statuses})
    if args.device:
        device_arn = resolve_device_arn(connection, args.device)
        filters.append({"name": "deviceArn", "operator": "EQUAL", "values": [device_arn]})
    if args.job:
        job_arn = resolve_job(connection, args.job)["jobArn"]
        filters.append({"name": "jobArn", "operator": "EQUAL", "values": [job_arn]})
    if args.since:
        since = to_jsonable(args.since)
        filters.append({"name": "createdAt", "operator": "GTE", "values": [since]})
    return filters


def task_row(task: Mapping[str, Any], job_name: str | None) -> dict[str, Any]:
    """One task as ``tasks --json`` shows it."""
    return {
        "quantumTaskArn": task["quantumTaskArn"],
        "taskId": task_id_of(task["quantumTaskArn"]),
        "status": task["status"],
        "deviceArn": task["deviceArn"],
        "device": device_name_of(task["deviceArn"]),
        "shots": task.get("shots"),
        "createdAt": task.get("createdAt"),
        "endedAt": task.get("endedAt"),
        "durationSeconds": task_duration(task),
        "jobArn": task.get("jobArn"),
        "jobName": job_name,
        "outputS3Bucket": task.get("outputS3Bucket"),
        "outputS3Directory": task.get("outputS3Directory"),
        "failureReason": task.get("failureReason"),
        "tags": task.get("tags") or {},
    }


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    summaries: list[dict[str, Any]] = []
    for summary in search_tasks(connection, _filters(connection, args), args.limit):
        summaries.append(summary)
        if len(summaries) >= args.limit:
            break
    with ThreadPoolExecutor(max_workers=8) as pool:
        tasks = list(pool.map(lambda s: get_task(connection, s["quantumTaskArn"]), summaries))
    names = JobNames(connection)
    rows = [task_row(task, names(task.get("jobArn"))) for task in tasks]
    if args.json:
        print(json.dumps(to_jsonable(rows), indent=2))
        return OK
    if not rows:
        out.line("no quantum tasks")
        return OK
    style = out.style
    cells = [
        [
            row["taskId"],
            style.status(row["status"]),
            row["device"],
            str(row["shots"]),
            local_time(row["createdAt"]),
            duration(row["durationSeconds"]),
            row["jobName"] or "-",
        ]
        for row in rows
    ]
    out.line(table(["ID", "STATUS", "DEVICE", "SHOTS", "CREATED", "DURATION", "JOB"], cells))
    return OK


# -- describe -------------------------------------------------------------------------------


def _describe(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    task = resolve_task(connection, args.task)
    if args.json:
        print(json.dumps(to_jsonable(task), indent=2, sort_keys=True))
        return OK
    action = None
    if task["status"] == "COMPLETED":
        data = read_results(connection, task)
        if data is not None:
            try:
                action = program_of(json.loads(data))
            except ValueError:
                action = None
    out = Output(colour=args.color)
    out.line(describe_text(task, out.style, JobNames(connection)(task.get("jobArn")), action))
    return OK


# -- results --------------------------------------------------------------------------------


def _results(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    task = resolve_task(connection, args.task)
    task_id = task_id_of(task["quantumTaskArn"])
    if task["status"] != "COMPLETED":
        reason = f": {task['failureReason']}" if task.get("failureReason") else ""
        out.line(f"{task_id} is {out.style.status(task['status'])}{reason}")
        out.line("results exist only once a quantum task has COMPLETED")
        return JOB_FAILED
    bucket = str(task["outputS3Bucket"])
    key = results_key(task)
    data = read_results(connection, task)
    if data is None:
        raise CliError(f"s3://{bucket}/{key} does not exist", code="NoSuchKey")
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise CliError(f"s3://{bucket}/{key} is not JSON: {exc}") from None
    directory = key.rsplit("/", 1)[0] if "/" in key else ""

    def fetch(relative: str) -> dict[str, Any]:
        raw = _read_object(connection, bucket, f"{directory}/{relative}".lstrip("/"))
        loaded = json.loads(raw) if raw is not None else {}
        return loaded if isinstance(loaded, dict) else {}

    summary = summarize(document, fetch)
    if args.json:
        print(json.dumps({"quantumTaskArn": task["quantumTaskArn"], **summary}, indent=2))
    else:
        device = device_name_of(str(task["deviceArn"]))
        out.line(
            f"{out.style('results', 'bold')} of {task_id} ({device}, {task.get('shots')} shots) "
            f"s3://{bucket}/{key}"
        )
        for line in summary_lines(summary, bar_character(out.stream)):
            out.line(line)
    if args.download:
        args.download.mkdir(parents=True, exist_ok=True)
        target = args.download / RESULTS_FILE
        target.write_bytes(data)
        print(f"downloaded to {target}", file=sys.stderr if args.json else sys.stdout)
    return OK


# -- cancel ---------------------------------------------------------------------------------


def _cancel(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    task = resolve_task(connection, args.task)
    answer = connection.braket.cancel_quantum_task(
        quantumTaskArn=task["quantumTaskArn"], clientToken=str(uuid.uuid4())
    )
    status = str(answer["cancellationStatus"])
    out.line(f"{task_id_of(task['quantumTaskArn'])}: {out.style.status(status)}")
    return OK
