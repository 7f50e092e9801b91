"""``hybridjobs gc [--dry-run]``: apply the retention ages now (see
:mod:`hybridjobs.retention`), against the data of a service that may be running."""

from __future__ import annotations

import argparse

from hybridjobs.cli.doctor import add_storage_options, storage_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gc = subparsers.add_parser(
        "gc",
        help=(
            "remove finished jobs' old files and log lines, abandoned uploads and unused "
            "cached requirement installs"
        ),
        description=(
            "Remove what the retention ages say is no longer kept: the local files of jobs "
            "that ended more than --job-files-days ago, their log lines after --logs-days, "
            "multipart uploads left unfinished for --uploads-days, and cached requirements.txt "
            "installs no job used for --requirements-days (never one a running job uses). On "
            "SQLite, a database left mostly free is VACUUMed. The running service's "
            "sweeper does the same every HYBRIDJOBS_RETENTION_SWEEP_SECONDS. An age of 0 "
            "keeps that kind of data."
        ),
        epilog=(
            "examples:\n  hybridjobs gc --dry-run\n"
            "  hybridjobs gc --data-dir ./hj-data --job-files-days 1 --logs-days 7"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_storage_options(gc)
    gc.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    gc.add_argument("--job-files-days", type=float, metavar="DAYS", help="default 7")
    gc.add_argument("--logs-days", type=float, metavar="DAYS", help="default 30")
    gc.add_argument("--uploads-days", type=float, metavar="DAYS", help="default 7")
    gc.add_argument("--requirements-days", type=float, metavar="DAYS", help="default 30")
    gc.set_defaults(handler=_gc)


def _gc(args: argparse.Namespace) -> int:
    from hybridjobs.retention import Sweeper
    from hybridjobs.server import open_objects
    from hybridjobs.store.sql import SqlJobStore

    settings = storage_settings(
        args,
        retention_job_files_days=args.job_files_days,
        retention_logs_days=args.logs_days,
        retention_uploads_days=args.uploads_days,
        retention_requirements_days=args.requirements_days,
    )
    store = SqlJobStore(settings.resolved_db_url)
    try:
        report = Sweeper(settings, store.engine, open_objects(settings)).sweep(args.dry_run)
    finally:
        store.close()
    prefix = "would remove" if args.dry_run else "removed"
    for job_id in report.job_dirs:
        print(f"{prefix} {settings.jobs_dir / job_id}")
    for upload in report.uploads:
        print(f"{prefix} upload {upload}")
    for entry in report.requirements:
        print(f"{prefix} cached requirements {entry}")
    print(report.summary())
    return 0
