"""``hybridjobs results``, and the outcome summary ``run`` and ``demo`` end with.

A job's results are ``<outputDataConfig.s3Path>/output/model.tar.gz`` (the union of the
instances' results directories); ``results.json`` at its root is the
``braket.jobs_data.persisted_job_data`` document ``save_job_result`` writes. A job that
wrote files to its results directory without calling ``save_job_result`` has an archive
but no ``results.json``: its files are listed instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import Connection, resolve_job
from hybridjobs.cli.exits import JOB_FAILED, OK
from hybridjobs.cli.parsing import add_command
from hybridjobs.cli.render import Output, duration, job_duration

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

MAX_VALUE_CHARS = 160


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "results",
        help="show (or download) what a job saved with save_job_result",
        description=(
            "Show the results of JOB (results.json of its model.tar.gz). With --download, "
            "extract every file the job saved into DIR. Exits 1 when the job has not "
            "COMPLETED."
        ),
        examples=[
            "hybridjobs results bell-1718000000000",
            "hybridjobs results JOB --download ./out",
            "hybridjobs results JOB --json",
        ],
    )
    parser.add_argument("job", metavar="JOB", help="job ARN, job id (UUID) or unique job name")
    parser.add_argument("--download", metavar="DIR", type=Path, help="extract the results here")
    parser.add_argument("--json", action="store_true", help="print the results data as JSON")
    parser.set_defaults(handler=_results)


def results_location(job: dict[str, Any]) -> tuple[str, str]:
    """Bucket and key of the job's ``model.tar.gz``."""
    from hybridjobs.objects.base import parse_s3_uri

    bucket, key = parse_s3_uri(str(job["outputDataConfig"]["s3Path"]))
    key = key.rstrip("/")
    return bucket, f"{key}/output/model.tar.gz" if key else "output/model.tar.gz"


def fetch_results(connection: Connection, job: dict[str, Any], dest: Path) -> bool:
    """Download and safely extract the job's results into ``dest``; False if it saved none."""
    from botocore.exceptions import ClientError

    from hybridjobs.archives import extract_archive

    bucket, key = results_location(job)
    with tempfile.TemporaryDirectory(prefix="hybridjobs-results-") as scratch:
        archive = Path(scratch, "model.tar.gz")
        try:
            connection.s3.download_file(bucket, key, str(archive))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchBucket"):
                return False
            raise
        extract_archive(archive, dest)
    return True


def load_results(directory: Path) -> dict[str, Any] | None:
    """The data dictionary of ``results.json`` (pickled values left encoded), or None."""
    path = directory / "results.json"
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    data = document.get("dataDictionary", document)
    if document.get("dataFormat") == "pickled_v4":
        return {k: f"<pickled value, {len(str(v))} base64 characters>" for k, v in data.items()}
    return dict(data)


def saved_files(directory: Path) -> list[tuple[str, int]]:
    """``(relative path, size in bytes)`` of every file under ``directory``, sorted."""
    return sorted(
        (path.relative_to(directory).as_posix(), path.stat().st_size)
        for path in directory.rglob("*")
        if path.is_file()
    )


def file_lines(files: list[tuple[str, int]]) -> list[str]:
    """``  path  size`` lines, sizes aligned."""
    width = max((len(name) for name, _ in files), default=0)
    return [f"  {name:<{width}}  {_size(size)}" for name, size in files]


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def results_lines(data: dict[str, Any]) -> list[str]:
    """``  key = value`` lines, long values shortened."""
    width = max((len(k) for k in data), default=0)
    return [f"  {k:<{width}} = {_short(v)}" for k, v in data.items()]


def print_outcome(connection: Connection, job: dict[str, Any], out: Output) -> None:
    """The final summary of a finished job: status, then results and metric names, or the
    failure reason."""
    from hybridjobs.cli.metrics import metric_summary

    style = out.style
    status = job["status"]
    took = duration(job_duration(job))
    if status != "COMPLETED":
        reason = job.get("failureReason")
        detail = f": {style(reason, 'red')}" if reason else ""
        out.line(f"{style.status(status)} after {took}{detail}")
        out.line(f"logs: hybridjobs logs {job['jobName']}")
        return
    out.line(f"{style.status(status)} in {took}  ({job['jobName']})")
    with tempfile.TemporaryDirectory(prefix="hybridjobs-outcome-") as scratch:
        saved = fetch_results(connection, job, Path(scratch))
        data = load_results(Path(scratch)) if saved else None
        files = saved_files(Path(scratch)) if saved and data is None else []
    bucket, key = results_location(job)
    if files:
        out.line(f"{style('results', 'bold')}: no results.json; files in s3://{bucket}/{key}:")
        for line in file_lines(files):
            out.line(line)
    elif data is None:
        out.line(style("results: none saved (call save_job_result in the job)", "dim"))
    else:
        out.line(f"{style('results', 'bold')} (s3://{bucket}/{key}):")
        for line in results_lines(data):
            out.line(line)
    summary = metric_summary(connection, job)
    if summary:
        out.line(f"{style('metrics', 'bold')}: {summary}")


def _results(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    job = resolve_job(connection, args.job)
    if job["status"] != "COMPLETED":
        reason = f": {job['failureReason']}" if job.get("failureReason") else ""
        out.line(f"{job['jobName']} is {out.style.status(job['status'])}{reason}")
        out.line("results exist only once a job has COMPLETED")
        return JOB_FAILED
    with tempfile.TemporaryDirectory(prefix="hybridjobs-results-") as scratch:
        target = args.download or Path(scratch)
        saved = fetch_results(connection, job, target)
        loaded = load_results(target) if saved else None
        data = loaded or {}
        listed = saved_files(target) if saved and loaded is None else []
        if args.json:
            print(json.dumps(data, indent=2))
            if listed and not args.download:
                listing = ", ".join(name for name, _ in listed)
                print(f"no results.json; the archive holds: {listing}", file=sys.stderr)
        elif listed:
            bucket, key = results_location(job)
            out.line(
                f"{job['jobName']} saved no results.json; "
                f"{len(listed)} file(s) in s3://{bucket}/{key}:"
            )
            for line in file_lines(listed):
                out.line(line)
            if not args.download:
                out.line(f"hybridjobs results {job['jobName']} --download DIR extracts them")
        elif not data:
            out.line(f"{job['jobName']} saved no results")
        else:
            out.line(f"{out.style('results', 'bold')} of {job['jobName']}:")
            for line in results_lines(data):
                out.line(line)
        if args.download:
            files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
            note = f"downloaded to {target}: {', '.join(files) or 'nothing'}"
            print(note, file=sys.stderr if args.json else sys.stdout)
    return OK
