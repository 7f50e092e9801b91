"""The ``hybridjobs`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hybridjobs.settings import Settings


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the service (API and scheduler)",
        description="Run the hybridjobs service: the Braket Jobs API and the job scheduler.",
        epilog="example: hybridjobs serve --port 8750 --data-dir ./hj-data",
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8750)")
    serve.add_argument("--data-dir", type=Path, help="where jobs, objects and the database live")
    serve.add_argument("--db-url", help="SQLAlchemy database URL (default: SQLite in the data dir)")
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="serve the API only; run the scheduler as its own process",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from hybridjobs.server import serve

    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "db_url": args.db_url,
        }.items()
        if value is not None
    }
    if args.no_scheduler:
        overrides["run_scheduler"] = False
    settings = Settings(**overrides)
    serve(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridjobs",
        description="A self-hostable Amazon Braket Hybrid Jobs service that runs jobs for real.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_serve(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
