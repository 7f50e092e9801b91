"""``hybridjobs metrics``: the metrics a job logged with ``log_metric``, as a table or plot.

Metrics are read the way the Braket SDK reads them: a CloudWatch Logs Insights query
(StartQuery / GetQueryResults) for the ``Metrics - name=value; ...`` lines of the job's
log streams. Each point keeps the instance (``algo-N``) whose stream printed it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import LOG_GROUP, TERMINAL, Connection, job_id_of, resolve_job
from hybridjobs.cli.exits import JOB_FAILED, OK, CliError, UsageError
from hybridjobs.cli.follow import instance_of
from hybridjobs.cli.parsing import add_command
from hybridjobs.cli.render import Output, table
from hybridjobs.jobs.metrics import parse_metric_line
from hybridjobs.store.base import MetricPoint

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

QUERY_DEADLINE_SECONDS = 30.0
QUERY_LIMIT = 10000
"""The most log lines one Logs Insights query returns (its ``limit`` ceiling)."""
TRUNCATED_NOTE = (
    "warning: the metrics query returned its limit of {limit} log lines, so some points "
    "may be missing; --all reads every point (one query per time window)"
)


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "metrics",
        help="show the metrics a job logged (table, JSON or a PNG chart)",
        description=(
            "Show the metrics JOB logged with braket.jobs.metrics.log_metric: per metric and "
            "instance the number of points, first, last, min and max. --plot draws a line "
            "chart per metric over the iteration number (or time), one series per instance."
        ),
        examples=[
            "hybridjobs metrics qaoa-1718000000000",
            "hybridjobs metrics JOB --plot metrics.png",
            "hybridjobs metrics JOB --json",
        ],
    )
    parser.add_argument("job", metavar="JOB", help="job ARN, job id (UUID) or unique job name")
    parser.add_argument("--plot", metavar="FILE.png", type=Path, help="write a chart here")
    parser.add_argument("--json", action="store_true", help="print every point as JSON")
    parser.add_argument(
        "--all",
        action="store_true",
        dest="every",
        help=f"read every point even past {QUERY_LIMIT} log lines (several queries)",
    )
    parser.set_defaults(handler=_metrics)


def fetch_metrics(connection: Connection, job: dict[str, Any]) -> list[MetricPoint]:
    """The metric points of ``job`` one Logs Insights query returns (like the SDK: at most
    :data:`QUERY_LIMIT` log lines), ordered by time."""
    return read_metrics(connection, job).points


@dataclass(frozen=True)
class MetricsRead:
    """The points read, ordered by time; ``truncated`` when some metric lines were not."""

    points: list[MetricPoint]
    truncated: bool


def read_metrics(
    connection: Connection, job: dict[str, Any], *, every: bool = False
) -> MetricsRead:
    """The metric points of ``job`` (Logs Insights, like the SDK). One query answers at
    most :data:`QUERY_LIMIT` lines, so a full answer means lines may be missing
    (``truncated``). With ``every``, a full answer's time window (whole seconds, both
    ends inclusive) is split in two and each half queried again until every window
    answers less than the limit; a single second that still fills an answer is read
    with FilterLogEvents instead, page by page, so every point is read."""
    now = time.time()
    started = job.get("startedAt")
    ended = job.get("endedAt") if job["status"] in TERMINAL else None
    start = int(started.timestamp()) if started else int(now) - 3 * 3600
    end = math.ceil(ended.timestamp()) + 1 if ended else math.ceil(now) + 1
    lines: list[tuple[str, str, float]] = []  # (message, stream, fallback time)
    truncated = False
    windows = [(start, end)]
    while windows:
        first, last = windows.pop()
        answer = _query(connection, job, first, last)
        if len(answer) < QUERY_LIMIT or not every:
            truncated = truncated or len(answer) >= QUERY_LIMIT
            for row in answer:
                fields = {f["field"]: f.get("value", "") for f in row}
                fallback = _seconds(fields.get("@timestamp", ""), now)
                lines.append((fields.get("@message", ""), fields.get("@logStream", ""), fallback))
        elif first >= last:
            lines.extend(_filtered_second(connection, job, first))
        else:
            middle = (first + last) // 2
            windows += [(middle + 1, last), (first, middle)]
    points: list[MetricPoint] = []
    for message, stream, fallback in lines:
        instance = instance_of(stream) or "algo-1"
        points.extend(parse_metric_line(message, instance, fallback))
    ordered = sorted(points, key=lambda p: (p.timestamp, p.instance, p.name))
    return MetricsRead(ordered, truncated)


def _filtered_second(
    connection: Connection, job: dict[str, Any], second: int
) -> list[tuple[str, str, float]]:
    """The job's metric lines stamped within ``second`` (epoch seconds), every page of
    FilterLogEvents. Its ``endTime`` is inclusive on AWS, so lines stamped at the next
    second's first millisecond are dropped here (the next window reads them)."""
    first_ms, next_ms = second * 1000, (second + 1) * 1000
    pages = connection.logs.get_paginator("filter_log_events").paginate(
        logGroupName=LOG_GROUP,
        logStreamNamePrefix=f"{job['jobName']}/{job_id_of(job['jobArn'])}/",
        startTime=first_ms,
        endTime=next_ms,
        filterPattern="Metrics",
    )
    return [
        (event["message"], event.get("logStreamName", ""), event["timestamp"] / 1000)
        for page in pages
        for event in page.get("events", [])
        if "Metrics - " in event["message"] and first_ms <= event["timestamp"] < next_ms
    ]


def _query(
    connection: Connection, job: dict[str, Any], start: int, end: int
) -> list[list[dict[str, str]]]:
    """The rows of one Insights query for the job's metric lines in [start, end]."""
    prefix = f"{job['jobName']}/{job_id_of(job['jobArn'])}".replace("/", "\\/")
    query = (
        f"fields @timestamp, @message, @logStream | filter @logStream like /^{prefix}\\// "
        "| filter @message like /Metrics - /"
    )
    logs = connection.logs
    query_id = logs.start_query(
        logGroupName=LOG_GROUP, startTime=start, endTime=end, queryString=query, limit=QUERY_LIMIT
    )["queryId"]
    deadline = time.monotonic() + QUERY_DEADLINE_SECONDS
    while True:
        answer = logs.get_query_results(queryId=query_id)
        status = answer.get("status")
        if status == "Complete":
            rows: list[list[dict[str, str]]] = answer.get("results", [])
            return rows
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise CliError(f"the metrics query ended {status}", code="QueryFailed")
        if time.monotonic() > deadline:
            raise CliError("the metrics query did not complete in time", code="QueryTimeout")
        time.sleep(0.2)  # Insights offers no way to await completion but polling


def _seconds(text: str, default: float) -> float:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return default
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def metric_summary(connection: Connection, job: dict[str, Any]) -> str:
    """``name (N points, last V), ...`` for the outcome summary; "" if none or unavailable."""
    from botocore.exceptions import ClientError

    try:
        read = read_metrics(connection, job)
    except (ClientError, CliError):
        return ""
    points = read.points
    parts = []
    for name in sorted({p.name for p in points}):
        series = [p for p in points if p.name == name]
        parts.append(f"{name} ({len(series)} points, last {series[-1].value:.6g})")
    summary = ", ".join(parts)
    if summary and read.truncated:
        summary += f" (incomplete: over {QUERY_LIMIT} metric lines; hybridjobs metrics --all)"
    return summary


def _rows(points: Sequence[MetricPoint]) -> list[list[str]]:
    rows = []
    for name, instance in sorted({(p.name, p.instance) for p in points}):
        values = [p.value for p in points if p.name == name and p.instance == instance]
        rows.append(
            [name, instance, str(len(values))]
            + [f"{v:.6g}" for v in (values[0], values[-1], min(values), max(values))]
        )
    return rows


def plot_metrics(points: Sequence[MetricPoint], path: Path, title: str) -> None:
    """A PNG with one line chart per metric, one series per instance (matplotlib, Agg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'hybridjobs[plot]'") from None
    names = sorted({p.name for p in points})
    figure, axes = plt.subplots(len(names), 1, figsize=(8, 3 * len(names)), squeeze=False)
    origin = min(p.timestamp for p in points)
    for axis, name in zip(axes[:, 0], names, strict=True):
        series = [p for p in points if p.name == name]
        by_iteration = all(p.iteration_number is not None for p in series)
        for instance in sorted({p.instance for p in series}):
            mine = [p for p in series if p.instance == instance]
            xs = [p.iteration_number if by_iteration else p.timestamp - origin for p in mine]
            ordered = sorted(zip(xs, [p.value for p in mine], strict=True))
            axis.plot([x for x, _ in ordered], [y for _, y in ordered], marker=".", label=instance)
        axis.set_title(name)
        axis.set_xlabel("iteration" if by_iteration else "seconds since the first point")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _metrics(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    job = resolve_job(connection, args.job)
    read = read_metrics(connection, job, every=args.every)
    points = read.points
    if read.truncated:
        print(TRUNCATED_NOTE.format(limit=QUERY_LIMIT), file=sys.stderr)
    if args.json:
        print(json.dumps([asdict(p) for p in points], indent=2))
    elif not points:
        out.line(f"{job['jobName']} logged no metrics")
    else:
        headers = ["METRIC", "INSTANCE", "POINTS", "FIRST", "LAST", "MIN", "MAX"]
        out.line(table(headers, _rows(points)))
    if args.plot:
        if not points:
            raise CliError(f"{job['jobName']} logged no metrics: nothing to plot", JOB_FAILED)
        plot_metrics(points, args.plot, f"{job['jobName']} ({job['status']})")
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return OK
