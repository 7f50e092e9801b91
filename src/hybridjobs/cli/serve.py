"""``hybridjobs serve`` and ``hybridjobs scheduler``: run the service or its scheduler alone."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from hybridjobs.settings import Settings


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where jobs, objects and the database live")
    parser.add_argument(
        "--db-url",
        help="SQLAlchemy database URL (default: SQLite in the data dir; env HYBRIDJOBS_DB_URL)",
    )
    parser.add_argument(
        "--no-warm-pool",
        action="store_true",
        help="start every instance as a fresh interpreter (no pre-started zygotes; "
        "env HYBRIDJOBS_WARM_POOL=false)",
    )
    parser.add_argument(
        "--devices-dir",
        type=Path,
        help="directory of device-properties JSON files (e.g. saved with `aws braket "
        "get-device`) served as emulated devices (env HYBRIDJOBS_DEVICES_DIR)",
    )
    parser.add_argument(
        "--task-workers",
        type=int,
        help="quantum-task worker processes (default: one per core; env HYBRIDJOBS_TASK_WORKERS)",
    )
    parser.add_argument(
        "--task-memory-gib",
        type=float,
        help="memory all running tasks' simulator state may use together; it also sets the "
        "simulators' qubit limits (default: half the machine's; env HYBRIDJOBS_TASK_MEMORY_GIB)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the service (API and scheduler)",
        description=(
            "Run the hybridjobs service: the Braket API (jobs, quantum tasks, devices), the "
            "job scheduler and the quantum-task workers."
        ),
        epilog=(
            "examples:\n  hybridjobs serve --port 8750 --data-dir ./hj-data\n"
            "  hybridjobs serve --devices-dir ./my-devices   # serve saved device properties"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8750)")
    _add_common(serve)
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="serve the API only; run `hybridjobs scheduler` as its own process",
    )
    serve.set_defaults(handler=_serve)

    scheduler = subparsers.add_parser(
        "scheduler",
        help="run only the scheduler (and the task workers) against a shared database",
        description=(
            "Run the job scheduler and the quantum-task workers as their own process against "
            "the same database and object store as a `hybridjobs serve --no-scheduler`."
        ),
        epilog="example: hybridjobs scheduler --db-url postgresql+psycopg://postgres@127.0.0.1/hj",
    )
    scheduler.add_argument(
        "--endpoint-port",
        type=int,
        help="port of the API server jobs should call back (default 8750)",
    )
    _add_common(scheduler)
    scheduler.set_defaults(handler=_scheduler)


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    values = {
        "data_dir": args.data_dir,
        "db_url": args.db_url,
        "devices_dir": args.devices_dir,
        "task_workers": args.task_workers,
        "task_memory_gib": args.task_memory_gib,
        **extra,
    }
    if getattr(args, "no_warm_pool", False):
        values["warm_pool"] = False
    return Settings(**{k: v for k, v in values.items() if v is not None})


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _serve(args: argparse.Namespace) -> int:
    from hybridjobs.server import serve

    _configure_logging()
    extra: dict[str, Any] = {"host": args.host, "port": args.port}
    if args.no_scheduler:
        extra["run_scheduler"] = False
    serve(_settings(args, **extra))
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from hybridjobs.server import build_scheduler_only

    _configure_logging()
    settings = _settings(args, port=args.endpoint_port)
    scheduler, close = build_scheduler_only(settings)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(f"hybridjobs scheduler running on {settings.resolved_db_url}", flush=True)
    scheduler.start()
    done.wait()
    scheduler.stop()
    close()
    print("hybridjobs scheduler stopped", flush=True)
    return 0
