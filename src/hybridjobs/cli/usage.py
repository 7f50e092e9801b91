"""``hybridjobs usage``: what an account's jobs and quantum tasks used and cost.

It reads the service's usage report (``GET /_hybridjobs/usage``, signed like an AWS
request with the CLI's credentials) and prints it as a table or JSON. :func:`fetch_usage`
is also what ``hybridjobs jobs`` and ``describe`` use for their cost figures.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import TERMINAL, Connection
from hybridjobs.cli.exits import OK, CliError
from hybridjobs.cli.parsing import add_command, since
from hybridjobs.cli.render import Output, table

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

USAGE_PATH = "/_hybridjobs/usage"
GROUPINGS = ("job", "device", "instance-type", "day", "account")


def register(subparsers: Subparsers) -> None:
    usage = add_command(
        subparsers,
        "usage",
        help="show what jobs and quantum tasks used and cost",
        description="Usage and estimated cost (USD, at the service's price table) of an "
        "account's finished jobs (instance time, as billableDuration) and quantum tasks "
        "(tasks, shots, run time), grouped by job, device, instance type, day or account.",
        examples=[
            "hybridjobs usage",
            "hybridjobs usage --since 7d --by device",
            "hybridjobs usage --account 111122223333 --by day --json",
        ],
    )
    usage.add_argument("--account", help="whose usage ('*': every account; default: yours)")
    usage.add_argument(
        "--since",
        type=since,
        help="only work that ended since: a duration (30m, 2h, 7d) or a date (2024-05-01)",
    )
    usage.add_argument("--by", choices=GROUPINGS, default="job", help="grouping (default job)")
    usage.add_argument("--json", action="store_true", help="print the report as JSON")
    usage.set_defaults(handler=_usage)


def fetch_usage(connection: Connection, **query: Any) -> dict[str, Any]:
    """The service's usage report for ``query`` (``account``, ``since``, ``by``, ``job``),
    over a SigV4-signed GET."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    pairs = [
        (key, str(item))
        for key, value in query.items()
        if value is not None
        for item in (value if isinstance(value, list) else [value])
    ]
    url = f"{connection.endpoint}{USAGE_PATH}"
    if pairs:
        url += "?" + urllib.parse.urlencode(pairs)
    credentials = connection.braket._request_signer._credentials
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials, "braket", connection.region).add_auth(request)
    prepared = urllib.request.Request(url, headers=dict(request.headers.items()), method="GET")
    try:
        with urllib.request.urlopen(prepared, timeout=60) as response:
            document: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read())
        except ValueError:
            problem = {}
        raise CliError(
            str(problem.get("message") or error.reason), code=problem.get("__type")
        ) from None
    return document


def job_costs(connection: Connection, jobs: list[dict[str, Any]]) -> dict[str, str]:
    """The estimated cost (USD, as the report's string) of each finished job among
    ``jobs`` (GetJob answers), instances and quantum tasks together, by job ARN: one
    usage report since the oldest one was created. Empty when the service gives none (a
    job without a record, or a service without the usage report, has no cost to show)."""
    finished = [job for job in jobs if job["status"] in TERMINAL]
    if not finished:
        return {}
    since = min(job["createdAt"] for job in finished)
    try:
        report = fetch_usage(connection, by="job", since=since.timestamp())
    except CliError:
        return {}
    wanted = {job["jobArn"] for job in finished}
    return {line["key"]: line["cost"] for line in report["lines"] if line["key"] in wanted}


def job_usage(connection: Connection, job: dict[str, Any]) -> dict[str, Any] | None:
    """The usage report of one finished job (GetJob answer), by device: its instances
    under ``(job instances)``, its quantum tasks by device. ``None`` while the job runs or
    when the service gives no report."""
    if job["status"] not in TERMINAL:
        return None
    try:
        return fetch_usage(connection, by="device", job=[job["jobArn"]])
    except CliError:
        return None


def usd(text: str) -> str:
    """A report's cost string as the tables show it: ``$0.0123``."""
    return f"${float(text):.4f}"


def _usage(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    report = fetch_usage(
        connection,
        account=args.account,
        since=args.since.timestamp() if args.since else None,
        by=args.by,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return OK
    out = Output(colour=args.color)
    lines = report["lines"]
    if not lines:
        out.line("no usage recorded")
        return OK
    rows = [
        [
            line["key"],
            str(line["jobs"]),
            f"{line['instanceSeconds']:.1f}",
            str(line["tasks"]),
            str(line["shots"]),
            f"{line['taskSeconds']:.1f}",
            usd(line["cost"]),
        ]
        for line in [*lines, report["total"]]
    ]
    headers = [args.by.upper(), "JOBS", "INSTANCE-S", "TASKS", "SHOTS", "TASK-S", "COST"]
    out.line(table(headers, rows))
    prices = report["prices"]
    out.line(f"prices: {prices['source']} (snapshot {prices['snapshotDate']}); estimates in USD")
    if prices.get("note"):
        out.line(f"  {prices['note']}")
    return OK
