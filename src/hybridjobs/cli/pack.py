"""Packing a job's source as ``source.tar.gz`` and uploading it, and inputs, through S3.

A file is packed under its own name; a directory's *contents* are packed at the archive
root (so the directory becomes the job's working directory and import root). Files a
``.gitignore`` in the directory (or any sub-directory) excludes are left out, with git's
rules (globs, ``dir/``, ``!negation``, ``#`` comments, deeper files win), through the
``pathspec`` package; ``.git/``, ``__pycache__/`` and ``*.pyc`` are always left out. A
symbolic link to a file is packed as that file; links to directories are not followed.

Nothing else is left out, so :func:`source_warnings` names what is packed but rarely
belongs in a job's source: a virtual environment (a directory with ``pyvenv.cfg``, or
any ``site-packages``), files over :data:`LARGE_FILE_BYTES` and an archive over
:data:`LARGE_ARCHIVE_BYTES`, each with the ``.gitignore`` line that leaves it out.

S3 layout, the same as the Braket SDK's (``<ms>`` is the creation time in milliseconds)::

    s3://amazon-braket-<region>-<account>/jobs/<name>/<ms>/script/source.tar.gz
    .../jobs/<name>/<ms>/data/<channel>/<file-or-dir-name>     local input data
    .../jobs/<name>/<ms>/data                                  outputDataConfig.s3Path
    .../jobs/<name>/<ms>/checkpoints                           default checkpoints
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridjobs.cli.client import Connection

if TYPE_CHECKING:
    import pathspec

ALWAYS_EXCLUDED = (".git/", "__pycache__/", "*.pyc", ".DS_Store")
MIB = 1024 * 1024
LARGE_FILE_BYTES = 50 * MIB
LARGE_ARCHIVE_BYTES = 100 * MIB
_MAX_NAMED_FILES = 5


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


def _gitignore_spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    """The git-style spec of ``lines`` (``pathspec`` is imported here, on first use, so
    that every other command, ``hybridjobs serve`` included, does without it)."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


class _Excluder:
    """git-style ignore rules of a directory tree (one spec per ``.gitignore``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.specs: list[tuple[str, pathspec.GitIgnoreSpec]] = [
            ("", _gitignore_spec(ALWAYS_EXCLUDED))
        ]

    def enter(self, relative_dir: str) -> None:
        """Read ``<relative_dir>/.gitignore`` if there is one."""
        ignore_file = self.root / relative_dir / ".gitignore"
        if ignore_file.is_file():
            lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
            self.specs.append((relative_dir, _gitignore_spec(lines)))

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
    write_archive(files, archive)
    return [name for _, name in files]


def write_archive(files: list[tuple[Path, str]], archive: Path) -> None:
    """Write ``archive`` (tar.gz, symlinks followed) of ``(path, archive name)`` pairs."""
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        for path, name in files:
            tar.add(path, arcname=name, recursive=False)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _amount(size: int) -> str:
    return f"{size / MIB:.0f} MB" if size >= MIB else f"{size / 1024:.0f} KB"


def environment_roots(names: list[str]) -> list[str]:
    """The directories (archive names, ``""`` for the root) among ``names`` that are Python
    environments: those holding ``pyvenv.cfg``, and else the ``site-packages`` directories."""
    roots = sorted(
        {name.rpartition("/")[0] for name in names if name.rpartition("/")[2] == "pyvenv.cfg"}
    )

    def inside(name: str, root: str) -> bool:
        return not root or name.startswith(root + "/")

    for name in names:
        parts = name.split("/")
        if "site-packages" in parts[:-1]:
            root = "/".join(parts[: parts.index("site-packages") + 1])
            if not any(inside(root, known) for known in roots):
                roots.append(root)
    return sorted(roots)


def source_warnings(
    source: Path,
    files: list[tuple[Path, str]],
    archive_size: int | None = None,
    large_file: int = LARGE_FILE_BYTES,
    large_archive: int = LARGE_ARCHIVE_BYTES,
) -> list[str]:
    """What is about to be packed from directory ``source`` that probably should not be:
    virtual environments, files of ``large_file`` bytes or more, an archive of
    ``large_archive`` bytes or more; each message says how to leave it out."""
    if source.is_file():
        return []
    ignore_file = source / ".gitignore"
    where = f"{ignore_file}" if ignore_file.is_file() else f"a new {ignore_file} (there is none)"
    warnings: list[str] = []
    names = [name for _, name in files]
    in_environment: set[str] = set()
    for root in environment_roots(names):
        members = [(path, name) for path, name in files if not root or name.startswith(root + "/")]
        in_environment.update(name for _, name in members)
        total = sum(_size(path) for path, _ in members)
        label = f"{root}/" if root else f"{source} itself"
        entry = f"/{root}/" if root else None
        advice = (
            f"add the line `{entry}` to {where}"
            if entry
            else "pack only the project directory, not the environment"
        )
        warnings.append(
            f"packing {label}: a Python environment ({len(members)} files, {_amount(total)}). "
            "Jobs import packages from the service's interpreter (or a requirements.txt in "
            f"the source), never from the archive; to leave it out, {advice}."
        )
    large = sorted(
        (
            (size, name)
            for path, name in files
            if name not in in_environment and (size := _size(path)) >= large_file
        ),
        reverse=True,
    )
    for size, name in large[:_MAX_NAMED_FILES]:
        warnings.append(
            f"packing {name} ({_amount(size)}): large files slow every job's start. Pass "
            f"data as an input channel instead (--input NAME={source / name}: uploaded next to "
            "the job and read from $AMZN_BRAKET_INPUT_DIR/NAME), or leave it out with the "
            f"line `/{name}` in {where}."
        )
    if len(large) > _MAX_NAMED_FILES:
        warnings.append(
            f"... and {len(large) - _MAX_NAMED_FILES} more file(s) of {_amount(large_file)} "
            "or more."
        )
    if archive_size is not None and archive_size >= large_archive:
        warnings.append(
            f"the source archive is {_amount(archive_size)} ({len(files)} files); a job's "
            "source is usually code. Leave data and environments out with .gitignore lines "
            f"in {source} (git's syntax, e.g. `data/` or `*.npy`)."
        )
    return warnings


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
