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
from dataclasses import asdict
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
    parser.set_defaults(handler=_metrics)


def fetch_metrics(connection: Connection, job: dict[str, Any]) -> list[MetricPoint]:
    """Every metric point of ``job``, ordered by time (Logs Insights, like the SDK)."""
    prefix = f"{job['jobName']}/{job_id_of(job['jobArn'])}".replace("/", "\\/")
    query = (
        f"fields @timestamp, @message, @logStream | filter @logStream like /^{prefix}\\// "
        "| filter @message like /Metrics - /"
    )
    now = time.time()
    started = job.get("startedAt")
    ended = job.get("endedAt") if job["status"] in TERMINAL else None
    start = int(started.timestamp()) if started else int(now) - 3 * 3600
    end = math.ceil(ended.timestamp()) + 1 if ended else math.ceil(now) + 1
    logs = connection.logs
    query_id = logs.start_query(
        logGroupName=LOG_GROUP, startTime=start, endTime=end, queryString=query, limit=10000
    )["queryId"]
    deadline = time.monotonic() + QUERY_DEADLINE_SECONDS
    while True:
        answer = logs.get_query_results(queryId=query_id)
        status = answer.get("status")
        if status == "Complete":
            break
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise CliError(f"the metrics query ended {status}", code="QueryFailed")
        if time.monotonic() > deadline:
            raise CliError("the metrics query did not complete in time", code="QueryTimeout")
        time.sleep(0.2)  # Insights offers no way to await completion but polling
    points: list[MetricPoint] = []
    for row in answer.get("results", []):
        fields = {f["field"]: f.get("value", "") for f in row}
        instance = instance_of(fields.get("@logStream", "")) or "algo-1"
        fallback = _seconds(fields.get("@timestamp", ""), now)
        points.extend(parse_metric_line(fields.get("@message", ""), instance, fallback))
    return sorted(points, key=lambda p: (p.timestamp, p.instance, p.name))


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
        points = fetch_metrics(connection, job)
    except (ClientError, CliError):
        return ""
    parts = []
    for name in sorted({p.name for p in points}):
        series = [p for p in points if p.name == name]
        parts.append(f"{name} ({len(series)} points, last {series[-1].value:.6g})")
    return ", ".join(parts)


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
    points = fetch_metrics(connection, job)
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
