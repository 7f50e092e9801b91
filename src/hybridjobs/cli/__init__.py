"""The ``hybridjobs`` command line: one module per command group, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hybridjobs.cli import serve

COMMAND_MODULES = (serve,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridjobs",
        description="A self-hostable Amazon Braket Hybrid Jobs service that runs jobs for real.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
