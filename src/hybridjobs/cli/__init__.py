"""The ``hybridjobs`` command line: one module per command group, registered here.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``; its parsers set
``handler`` to a function of the parsed arguments returning the exit code. :func:`main`
runs it through :func:`hybridjobs.cli.exits.run_handler`, so every error the service (or
the network) raises ends as one ``error: ...`` line and a documented exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hybridjobs.cli import (
    demo,
    devices,
    doctor,
    gc,
    images,
    jobs,
    logs,
    metrics,
    results,
    run,
    serve,
    tasks,
)
from hybridjobs.cli import usage as usage_command
from hybridjobs.cli.client import endpoint_from
from hybridjobs.cli.exits import EXIT_CODES_HELP, run_handler

COMMAND_MODULES = (serve, run, jobs, logs, results, metrics, devices, tasks, demo, images)
COMMAND_MODULES_WITH_USAGE = (*COMMAND_MODULES, usage_command, doctor, gc)

EPILOG = f"""\
quick start:
  hybridjobs demo                      a 2-instance QAOA job on an embedded service
  hybridjobs serve                     run the service on http://127.0.0.1:8750
  hybridjobs run examples/bell/bell.py run a script as a job and follow it
  hybridjobs jobs                      list jobs
  hybridjobs devices                   list the devices quantum tasks run on
  hybridjobs tasks                     list quantum tasks

Every client command talks to the service through the AWS API only; point it at a
service with --endpoint or HYBRIDJOBS_ENDPOINT. `hybridjobs COMMAND --help` shows examples.

{EXIT_CODES_HELP}"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridjobs",
        description="A self-hostable Amazon Braket Hybrid Jobs service that runs jobs for real.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES_WITH_USAGE:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = run_handler(lambda: args.handler(args), endpoint_from(args))
    return code


if __name__ == "__main__":
    sys.exit(main())
