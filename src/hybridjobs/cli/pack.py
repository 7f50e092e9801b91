"""Packing a job's source as ``source.tar.gz`` and uploading it, and inputs, through S3.

A file is packed under its own name; a directory's *contents* are packed at the archive
root (so the directory becomes the job's working directory and import root). Files a
``.gitignore`` in the directory (or any sub-directory) excludes are left out, with git's
rules (globs, ``dir/``, ``!negation``, ``#`` comments, deeper files win), through the
``pathspec`` package; ``.git/``, ``__pycache__/`` and ``*.pyc`` are always left out. A
symbolic link to a file is packed as that file; links to directories are not followed.

S3 layout, the same as the Braket SDK's (``<ms>`` is the creation time in milliseconds)::

    s3://amazon-braket-<region>-<account>/jobs/<name>/<ms>/script/source.tar.gz
    .../jobs/<name>/<ms>/data/<channel>/<file-or-dir-name>     local input data
    .../jobs/<name>/<ms>/data                                  outputDataConfig.s3Path
    .../jobs/<name>/<ms>/checkpoints                           default checkpoints
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from hybridjobs.cli.client import Connection

ALWAYS_EXCLUDED = (".git/", "__pycache__/", "*.pyc", ".DS_Store")


@dataclass(frozen=True)
class JobLocation:
    """Where one job's objects go: ``s3://bucket/jobs/<name>/<ms>/...``."""

    bucket: str
    name: str
    timestamp_ms: int

    @property
    def prefix(self) -> str:
        return f"jobs/{self.name}/{self.timestamp_ms}"

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", self.prefix, *parts])

    @property
    def source_key(self) -> str:
        return f"{self.prefix}/script/source.tar.gz"


def default_bucket(connection: Connection) -> str:
    """``amazon-braket-<region>-<account>``, the SDK's default bucket name."""
    return f"amazon-braket-{connection.region}-{connection.account_id()}"


def ensure_bucket(connection: Connection, bucket: str) -> None:
    """Create ``bucket`` unless it exists (as the SDK does before every job)."""
    from botocore.exceptions import ClientError

    request: dict[str, Any] = {"Bucket": bucket}
    if connection.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": connection.region}
    try:
        connection.s3.create_bucket(**request)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


class _Excluder:
    """git-style ignore rules of a directory tree (one spec per ``.gitignore``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.specs: list[tuple[str, pathspec.GitIgnoreSpec]] = [
            ("", pathspec.GitIgnoreSpec.from_lines(ALWAYS_EXCLUDED))
        ]

    def enter(self, relative_dir: str) -> None:
        """Read ``<relative_dir>/.gitignore`` if there is one."""
        ignore_file = self.root / relative_dir / ".gitignore"
        if ignore_file.is_file():
            lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
            self.specs.append((relative_dir, pathspec.GitIgnoreSpec.from_lines(lines)))

    def excluded(self, relative: str, is_dir: bool) -> bool:
        """Whether the path (relative to the root, ``/``-separated) is ignored: the deepest
        ``.gitignore`` with a matching pattern decides."""
        for base, spec in reversed(self.specs):
            if base and not (relative + "/").startswith(base + "/"):
                continue
            local = relative[len(base) + 1 :] if base else relative
            result = spec.check_file(local + "/" if is_dir else local)
            if result.include is not None:
                return bool(result.include)
        return False


def source_files(source: Path) -> list[tuple[Path, str]]:
    """``(path, archive name)`` of every file to pack, sorted by archive name."""
    if source.is_file():
        return [(source, source.name)]
    excluder = _Excluder(source)
    chosen: list[tuple[Path, str]] = []
    for directory, dirnames, filenames in os.walk(source, followlinks=False):
        relative_dir = Path(directory).relative_to(source).as_posix()
        relative_dir = "" if relative_dir == "." else relative_dir
        excluder.enter(relative_dir)
        prefix = f"{relative_dir}/" if relative_dir else ""
        dirnames[:] = sorted(d for d in dirnames if not excluder.excluded(prefix + d, True))
        for name in sorted(filenames):
            if not excluder.excluded(prefix + name, False):
                chosen.append((Path(directory, name), prefix + name))
    return sorted(chosen, key=lambda pair: pair[1])


def pack_source(source: Path, archive: Path) -> list[str]:
    """Write ``archive`` (tar.gz, symlinks followed) and return the names it holds."""
    files = source_files(source)
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        for path, name in files:
            tar.add(path, arcname=name, recursive=False)
    return [name for _, name in files]


def upload_file(connection: Connection, path: Path, bucket: str, key: str) -> None:
    connection.s3.upload_file(str(path), bucket, key)


def upload_input(connection: Connection, location: JobLocation, channel: str, path: Path) -> str:
    """Upload a local file or directory as input channel ``channel``; its ``s3://`` URI."""
    key = f"{location.prefix}/data/{channel}/{path.name}"
    if path.is_file():
        upload_file(connection, path, location.bucket, key)
    else:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            upload_file(
                connection, file, location.bucket, f"{key}/{file.relative_to(path).as_posix()}"
            )
    return f"s3://{location.bucket}/{key}"
