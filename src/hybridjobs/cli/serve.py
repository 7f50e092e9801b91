"""``hybridjobs serve`` and ``hybridjobs scheduler``: run the service or its scheduler alone."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hybridjobs.settings import Settings


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where jobs, objects and the database live")
    parser.add_argument(
        "--db-url",
        help="SQLAlchemy database URL (default: SQLite in the data dir; env HYBRIDJOBS_DB_URL)",
    )
    parser.add_argument(
        "--objects",
        metavar="s3://BUCKET/PREFIX",
        help="keep every bucket and object under PREFIX of one real bucket, at "
        "HYBRIDJOBS_S3_ENDPOINT_URL (default: AWS) with the HYBRIDJOBS_S3_* credentials "
        "(default: DATA_DIR/objects; env HYBRIDJOBS_OBJECTS)",
    )
    parser.add_argument(
        "--no-warm-pool",
        action="store_true",
        help="start every instance as a fresh interpreter (no pre-started zygotes; "
        "env HYBRIDJOBS_WARM_POOL=false)",
    )
    parser.add_argument(
        "--gpu-cpu-twins",
        action="store_true",
        help="on a host without GPUs, run GPU instance types on CPU: lightning.gpu as "
        "lightning.qubit, CUDA-Q nvidia as qpp-cpu, announced in each job's events and log "
        "(env HYBRIDJOBS_GPU_CPU_TWINS=true)",
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
        help="most quantum-task worker processes at once (default: one per core; one stays "
        "started while idle, more start while all are busy; env HYBRIDJOBS_TASK_WORKERS)",
    )
    parser.add_argument(
        "--runner",
        choices=("local", "ray"),
        help="where job instances run: local processes (default) or a Ray cluster "
        "(env HYBRIDJOBS_RUNNER; needs the hybridjobs[ray] extra)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="the Ray cluster for --runner ray, e.g. 10.0.0.5:6379 (env "
        "HYBRIDJOBS_RAY_ADDRESS; default: RAY_ADDRESS)",
    )
    parser.add_argument(
        "--task-memory-gib",
        type=float,
        help="memory all running tasks' simulator state may use together; it also sets the "
        "simulators' qubit limits (default: half the machine's; env HYBRIDJOBS_TASK_MEMORY_GIB)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="format of the service log's lines (default text; env HYBRIDJOBS_LOG_FORMAT)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("auto", "bwrap", "none"),
        help="where job instances run: a bubblewrap sandbox that shows them only their "
        "/opt/ml (or refuse to start), or none; auto (default): the sandbox wherever it "
        "can run here (env HYBRIDJOBS_SANDBOX)",
    )
    parser.add_argument(
        "--sandbox-warm-starts",
        choices=("auto", "in-place", "zygotes"),
        help="how sandboxed instances start warm: in-place (a forked instance makes its "
        "sandbox itself), zygotes (each zygote waits in a bubblewrap sandbox and forks one "
        "instance), or auto (default): in-place where it works here "
        "(env HYBRIDJOBS_SANDBOX_WARM_STARTS)",
    )
    parser.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        default=None,
        help="run jobs without a sandbox when it cannot run here (the default only on "
        "loopback without access keys; env HYBRIDJOBS_ALLOW_UNSANDBOXED)",
    )
    parser.add_argument(
        "--stop-jobs-on-exit",
        action="store_true",
        help="on SIGTERM stop running jobs (they end FAILED, ServiceStopped) instead of "
        "leaving them running for the next start to re-attach (env "
        "HYBRIDJOBS_STOP_JOBS_ON_EXIT=true)",
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
    serve.add_argument(
        "--credentials-file",
        type=Path,
        metavar="FILE",
        help='access keys as JSON: {"AKID": {"secret": "...", "account": "111111111111"}} '
        '(or {"AKID": "secret"}: the default account); signatures are then verified '
        "(env HYBRIDJOBS_CREDENTIALS_FILE, or the JSON itself in HYBRIDJOBS_CREDENTIALS)",
    )
    serve.add_argument(
        "--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this PEM certificate chain"
    )
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="the PEM key of --tls-cert")
    _add_common(serve)
    serve.add_argument(
        "--no-access-log",
        action="store_true",
        help="no log line per API request (env HYBRIDJOBS_ACCESS_LOG=false)",
    )
    serve.add_argument(
        "--metrics-unsigned",
        action="store_true",
        help="serve /metrics without a signature even with access keys configured, for "
        "scrapers that cannot sign; firewall the port (env HYBRIDJOBS_METRICS_UNSIGNED=true)",
    )
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
        epilog=(
            "Jobs call the API (S3, Braket, logs) at the first of: --endpoint; "
            "http://HYBRIDJOBS_HOST:--endpoint-port; HYBRIDJOBS_HOST/HYBRIDJOBS_PORT when "
            "either is set (the variables `hybridjobs serve` reads too); HYBRIDJOBS_ENDPOINT "
            "(the CLI's); http://127.0.0.1:8750.\n"
            "examples:\n"
            "  hybridjobs scheduler --db-url postgresql+psycopg://postgres@127.0.0.1/hj\n"
            "  hybridjobs scheduler --endpoint http://api.internal:9000"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scheduler.add_argument(
        "--endpoint",
        metavar="URL",
        help="http://HOST:PORT of the API server that jobs call (see below)",
    )
    scheduler.add_argument(
        "--endpoint-port",
        type=int,
        help="port of the API server, on HYBRIDJOBS_HOST (default 127.0.0.1)",
    )
    _add_common(scheduler)
    scheduler.set_defaults(handler=_scheduler)


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    values = {
        "data_dir": args.data_dir,
        "db_url": args.db_url,
        "objects": args.objects,
        "devices_dir": args.devices_dir,
        "task_workers": args.task_workers,
        "task_memory_gib": args.task_memory_gib,
        "runner": args.runner,
        "ray_address": args.ray_address,
        "log_format": args.log_format,
        "sandbox": args.sandbox,
        "sandbox_warm_starts": args.sandbox_warm_starts,
        "allow_unsandboxed": args.allow_unsandboxed,
        **extra,
    }
    if getattr(args, "no_warm_pool", False):
        values["warm_pool"] = False
    for flag, setting, value in (
        ("stop_jobs_on_exit", "stop_jobs_on_exit", True),
        ("no_access_log", "access_log", False),
        ("metrics_unsigned", "metrics_unsigned", True),
        ("gpu_cpu_twins", "gpu_cpu_twins", True),
    ):
        if getattr(args, flag, False):
            values[setting] = value
    return Settings(**{k: v for k, v in values.items() if v is not None})


def _configure_logging(settings: Settings) -> None:
    from hybridjobs.observability.accesslog import configure_logging

    configure_logging(settings.log_format, settings.access_log)


def _serve(args: argparse.Namespace) -> int:
    from hybridjobs.server import serve

    extra: dict[str, Any] = {"host": args.host, "port": args.port}
    extra.update(
        credentials_file=args.credentials_file, tls_cert=args.tls_cert, tls_key=args.tls_key
    )
    if args.no_scheduler:
        extra["run_scheduler"] = False
    settings = _settings(args, **extra)
    _configure_logging(settings)
    serve(settings)
    return 0


def _host_and_port(url: str, option: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http://HOST[:PORT]`` URL; UsageError otherwise."""
    from hybridjobs.cli.exits import UsageError

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "http" or not parts.hostname or (port is not None and port < 0):
        raise UsageError(f"{option} {url!r}: give the API's address as http://HOST:PORT")
    if parts.path not in ("", "/"):
        raise UsageError(f"{option} {url!r}: the API's address has no path; use http://HOST:PORT")
    return parts.hostname, port or 80


def scheduler_endpoint(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The host/port settings that make ``Settings.endpoint_url`` the API address jobs
    call, and where that address came from (see the scheduler's help)."""
    if args.endpoint:
        host, port = _host_and_port(args.endpoint, "--endpoint")
        return {"host": host, "port": port}, "--endpoint"
    if args.endpoint_port is not None:
        return {"port": args.endpoint_port}, "--endpoint-port"
    if os.environ.get("HYBRIDJOBS_HOST") or os.environ.get("HYBRIDJOBS_PORT"):
        return {}, "HYBRIDJOBS_HOST/HYBRIDJOBS_PORT"
    if client_endpoint := os.environ.get("HYBRIDJOBS_ENDPOINT"):
        host, port = _host_and_port(client_endpoint, "HYBRIDJOBS_ENDPOINT")
        return {"host": host, "port": port}, "HYBRIDJOBS_ENDPOINT"
    return {}, "the default"


def _api_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_hybridjobs/status", timeout=3):
            return True
    except urllib.error.HTTPError:
        return True  # it answered (403: the API verifies signatures)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _scheduler(args: argparse.Namespace) -> int:
    from hybridjobs.server import build_scheduler_only

    endpoint, origin = scheduler_endpoint(args)
    settings = _settings(args, **endpoint)
    _configure_logging(settings)
    if not _api_answers(settings.endpoint_url):
        print(
            f"warning: no hybridjobs API answers at {settings.endpoint_url} (from {origin}); "
            "jobs call it for their script, data, results and devices. Pass the API's "
            "address with --endpoint http://HOST:PORT if it runs elsewhere.",
            file=sys.stderr,
            flush=True,
        )
    from hybridjobs.sandbox.select import SandboxUnavailable

    try:
        scheduler, close = build_scheduler_only(settings)
    except SandboxUnavailable as error:
        raise SystemExit(f"hybridjobs will not start: {error}") from None
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(
        f"hybridjobs scheduler running on {settings.resolved_db_url}; jobs call the API at "
        f"{settings.endpoint_url} (from {origin})",
        flush=True,
    )
    scheduler.start()
    done.wait()
    scheduler.stop(settings.shutdown_timeout_seconds)
    close()
    print("hybridjobs scheduler stopped", flush=True)
    return 0
