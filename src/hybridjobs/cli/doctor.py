"""``hybridjobs doctor``: check this host for a service (data directory, database, object
store, warm pool, free disk, sandbox) and say what to fix; exit 1 when a check fails."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hybridjobs.settings import Settings

_MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """The options that say which service's data to look at (as ``serve`` takes them)."""
    parser.add_argument("--data-dir", type=Path, help="the service's data directory")
    parser.add_argument("--db-url", help="the service's database (env HYBRIDJOBS_DB_URL)")
    parser.add_argument(
        "--objects", metavar="s3://BUCKET/PREFIX", help="the service's object store"
    )


def storage_settings(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from the environment, with the storage options and ``extra`` on top."""
    values = {"data_dir": args.data_dir, "db_url": args.db_url, "objects": args.objects, **extra}
    return Settings(**{key: value for key, value in values.items() if value is not None})


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check this host for running the service, and say what to fix",
        description=(
            "Check the data directory, free disk, database, object store, warm pool and "
            "sandbox prerequisites (bubblewrap, cgroups) of the service these settings "
            "describe, and the runtime and image of every image mapped to a real container "
            "(the same HYBRIDJOBS_* environment as `hybridjobs serve`). Exits 1 "
            "when a check fails; warnings say what works less well than it could."
        ),
        epilog="example:\n  hybridjobs doctor --data-dir ./hj-data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_storage_options(doctor)
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from hybridjobs.doctor import run_checks

    findings = run_checks(storage_settings(args))
    for finding in findings:
        print(f"[{_MARKS[finding.level]}] {finding.check}: {finding.detail}")
        if finding.fix:
            print(f"       fix: {finding.fix}")
    failed = sum(finding.level == "fail" for finding in findings)
    warned = sum(finding.level == "warn" for finding in findings)
    print(f"{failed} problem(s), {warned} warning(s)")
    return 1 if failed else 0
