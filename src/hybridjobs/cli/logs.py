"""``hybridjobs logs``: a job's log lines (every instance, prefixed ``algo-N``), or follow."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hybridjobs.cli.client import TERMINAL, Connection, resolve_job
from hybridjobs.cli.exits import OK
from hybridjobs.cli.follow import FollowOptions, JobFollower, LogReader, format_line
from hybridjobs.cli.parsing import add_command
from hybridjobs.cli.render import Output

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "logs",
        help="print a job's logs (-f to follow until it ends)",
        description=(
            "Print the log lines of JOB's instances, oldest first, each prefixed with its "
            "instance (algo-N). With -f, keep printing new lines until the job ends."
        ),
        examples=[
            "hybridjobs logs bell-1718000000000",
            "hybridjobs logs -f JOB",
            "hybridjobs logs JOB --instance 2",
        ],
    )
    parser.add_argument("job", metavar="JOB", help="job ARN, job id (UUID) or unique job name")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="follow new lines until the job ends"
    )
    parser.add_argument("--instance", type=int, metavar="N", help="only instance algo-N")
    parser.set_defaults(handler=_logs)


def _logs(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    job = resolve_job(connection, args.job)
    if args.follow and job["status"] not in TERMINAL:
        options = FollowOptions(events=False, instance=args.instance)
        final = JobFollower(connection, job, out, options).run()
        print(f"{final['jobName']} ended {final['status']}", file=sys.stderr)
        return OK
    reader = LogReader(connection, job["jobName"], job["jobArn"], args.instance)
    for line in reader.poll():
        out.line(format_line(out.style, line))
    return OK
