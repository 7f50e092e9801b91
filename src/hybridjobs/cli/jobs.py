"""``hybridjobs jobs``, ``describe`` and ``cancel``: list, inspect and stop jobs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import Connection, resolve_job
from hybridjobs.cli.describe import describe_text
from hybridjobs.cli.exits import OK
from hybridjobs.cli.follow import wait_until_done
from hybridjobs.cli.parsing import add_command, since, status_list
from hybridjobs.cli.render import Output, duration, job_duration, local_time, table, to_jsonable
from hybridjobs.cli.usage import job_costs, job_usage, usd

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")


def register(subparsers: Subparsers) -> None:
    jobs = add_command(
        subparsers,
        "jobs",
        help="list jobs (newest first)",
        description="List jobs, newest first: name, status, device, instances, created, "
        "duration and, once finished, estimated cost (instances and quantum tasks, USD).",
        examples=[
            "hybridjobs jobs",
            "hybridjobs jobs --status RUNNING,QUEUED --since 2h",
            "hybridjobs jobs --name qaoa --json",
        ],
    )
    jobs.add_argument(
        "--status",
        action="append",
        type=status_list(STATUSES),
        help="only jobs in these statuses (comma-separated or repeated)",
    )
    jobs.add_argument("--name", help="only jobs whose name contains this text")
    jobs.add_argument(
        "--since",
        type=since,
        help="only jobs created since: a duration (30m, 2h, 7d) or a date (2024-05-01[T12:00])",
    )
    jobs.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")
    jobs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    jobs.set_defaults(handler=_jobs)

    describe = add_command(
        subparsers,
        "describe",
        help="show everything about a job, with its events as a timeline",
        description="Show everything GetJob returns for JOB, with its events as a timeline.",
        examples=["hybridjobs describe bell-1718000000000", "hybridjobs describe JOB --json"],
    )
    describe.add_argument("job", metavar="JOB", help="job ARN, job id (UUID) or unique job name")
    describe.add_argument("--json", action="store_true", help="print GetJob's answer as JSON")
    describe.set_defaults(handler=_describe)

    cancel = add_command(
        subparsers,
        "cancel",
        help="cancel a queued or running job",
        description="Cancel JOB. A queued job is cancelled at once; a running one is stopped.",
        examples=["hybridjobs cancel bell-1718000000000", "hybridjobs cancel JOB --wait"],
    )
    cancel.add_argument("job", metavar="JOB", help="job ARN, job id (UUID) or unique job name")
    cancel.add_argument("--wait", action="store_true", help="wait until the job is CANCELLED")
    cancel.set_defaults(handler=_cancel)


def _matching(connection: Connection, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if args.name:
        filters.append({"name": "jobName", "operator": "CONTAINS", "values": [args.name]})
    if args.since:
        since = to_jsonable(args.since)
        filters.append({"name": "createdAt", "operator": "GTE", "values": [since]})
    wanted = {s for group in args.status or [] for s in group}
    for summary in connection.search_jobs(filters):
        if not wanted or summary["status"] in wanted:
            yield summary


def _jobs(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    summaries: list[dict[str, Any]] = []
    for summary in _matching(connection, args):
        if len(summaries) >= args.limit:
            break
        summaries.append(summary)
    with ThreadPoolExecutor(max_workers=8) as pool:
        details = list(pool.map(lambda s: connection.get_job(s["jobArn"]), summaries))
    costs = job_costs(connection, details)
    if args.json:
        rows = [to_jsonable({**_row(job), "cost": costs.get(job["jobArn"])}) for job in details]
        print(json.dumps(rows, indent=2))
        return OK
    if not details:
        out.line("no jobs")
        return OK
    style = out.style
    rows = [
        [
            job["jobName"],
            style.status(job["status"]),
            job.get("deviceConfig", {}).get("device", "-"),
            f"{job['instanceConfig'].get('instanceCount', 1)} x "
            f"{job['instanceConfig']['instanceType']}",
            local_time(job["createdAt"]),
            duration(job_duration(job)),
            usd(costs[job["jobArn"]]) if job["jobArn"] in costs else "-",
        ]
        for job in details
    ]
    headers = ["NAME", "STATUS", "DEVICE", "INSTANCES", "CREATED", "DURATION", "COST"]
    out.line(table(headers, rows))
    return OK


def _row(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "jobArn": job["jobArn"],
        "jobName": job["jobName"],
        "status": job["status"],
        "device": job.get("deviceConfig", {}).get("device"),
        "instanceType": job["instanceConfig"]["instanceType"],
        "instanceCount": job["instanceConfig"].get("instanceCount", 1),
        "createdAt": job["createdAt"],
        "startedAt": job.get("startedAt"),
        "endedAt": job.get("endedAt"),
        "durationSeconds": job_duration(job),
        "tags": job.get("tags", {}),
    }


def _describe(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    job = resolve_job(connection, args.job)
    if args.json:
        print(json.dumps(to_jsonable(job), indent=2, sort_keys=True))
        return OK
    out = Output(colour=args.color)
    out.line(describe_text(job, out.style, job_usage(connection, job)))
    return OK


def _cancel(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    job = resolve_job(connection, args.job)
    answer = connection.braket.cancel_job(jobArn=job["jobArn"])
    status = answer["cancellationStatus"]
    out.line(f"{job['jobName']}: {out.style.status(status)}")
    if args.wait and status != "CANCELLED":
        final = wait_until_done(connection, job["jobArn"])
        out.line(f"{job['jobName']}: {out.style.status(final['status'])}")
    return OK
