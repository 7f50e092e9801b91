"""Shared argparse plumbing: every client command gets the same options and help layout."""

from __future__ import annotations

import argparse
import datetime
import re
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from hybridjobs.cli.client import add_connection_arguments
from hybridjobs.cli.exits import EXIT_CODES_HELP, UsageError

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def add_command(
    subparsers: Subparsers,
    name: str,
    *,
    help: str,
    description: str,
    examples: Sequence[str],
    connection: bool = True,
) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` ends with examples and the exit codes.

    With ``connection``, it takes ``--endpoint``, ``--region`` and ``--color``.
    """
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + EXIT_CODES_HELP
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, width=88),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if connection:
        add_connection_arguments(parser)
        add_color_argument(parser)
    return parser


def add_color_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (default auto: only on a terminal, and not with NO_COLOR)",
    )


def key_value(text: str) -> tuple[str, str]:
    """``k=v`` as a pair (argparse ``type``); the value may contain ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def pairs_to_dict(pairs: Sequence[tuple[str, str]] | None, what: str) -> dict[str, str]:
    """A dict of the ``k=v`` pairs; a key given twice is a usage error."""
    result: dict[str, str] = {}
    for key, value in pairs or ():
        if key in result:
            raise UsageError(f"{what} {key!r} is given twice")
        result[key] = value
    return result


def status_list(statuses: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated statuses (any case), each one of ``statuses``."""

    def parse(text: str) -> list[str]:
        values = [v.strip().upper() for v in text.split(",") if v.strip()]
        for value in values:
            if value not in statuses:
                raise argparse.ArgumentTypeError(
                    f"unknown status {value!r} (choose from {', '.join(statuses)})"
                )
        return values

    return parse


def since(text: str) -> datetime.datetime:
    """An argparse type: a duration back from now (``30m``, ``2h``, ``7d``) or a date."""
    now = datetime.datetime.now(datetime.UTC)
    match = _RELATIVE.fullmatch(text.strip().lower())
    if match:
        return now - datetime.timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30m, 2h, 7d or a date like 2024-05-01, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()
