"""Moving a job's data: input channels and checkpoints in, results and checkpoints out."""

from __future__ import annotations

import logging
import os
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridjobs.objects import (
    NoSuchBucket,
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
    download_prefix,
    is_unchanged,
    parse_s3_uri,
    regular_files,
)

log = logging.getLogger(__name__)


class DataDownloadError(Exception):
    """An input channel could not be downloaded; the message names the channel and why."""


def download_channels(
    store: ObjectStore, input_data_config: Sequence[dict[str, Any]], input_dir: Path
) -> int:
    """Download every input channel into ``input_dir/<channelName>``; returns files written.

    Raises :class:`DataDownloadError` when a channel's location cannot be read or holds no
    object (SageMaker and the Braket SDK's local mode fail such a job too).
    """
    written = 0
    for channel in input_data_config:
        name = channel["channelName"]
        uri = channel["dataSource"]["s3DataSource"]["s3Uri"]
        target = input_dir / name
        target.mkdir(parents=True, exist_ok=True)
        try:
            bucket, key = parse_s3_uri(uri)
            files = download_prefix(store, bucket, key, target)
        except (ObjectStoreError, ValueError) as exc:
            raise DataDownloadError(f"channel {name!r}: cannot download {uri}: {exc}") from exc
        if not files:
            raise DataDownloadError(f"channel {name!r}: no objects found under {uri}")
        written += len(files)
    return written


def restore_checkpoints(
    store: ObjectStore, s3_uri: str, checkpoint_dir: Path, errors: list[str] | None = None
) -> int:
    """Copy what lies under ``s3_uri`` into ``checkpoint_dir``; returns files written.

    S3 may hold keys no directory can hold together: ``model`` beside ``model/shard0`` (a
    checkpoint that was a file in one job and a directory in the next), ``a/b`` beside
    ``a//b``, names too long for the disk. The newest layout wins: a file is restored
    instead of the files under its name only when it is newer than all of them; among keys
    landing on one path the newest wins. Folder markers (``…/``) are skipped. A key that
    is unsafe as a path (``..``) or cannot be written is skipped and reported (logged and
    added to ``errors`` when given) rather than failing the job.
    """
    bucket, key = parse_s3_uri(s3_uri)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    prefix = key if not key or key.endswith("/") else key + "/"
    try:
        infos = list(store.list(bucket, prefix))
    except NoSuchBucket:  # nothing saved there yet
        return 0
    dest_root = checkpoint_dir.resolve()
    written = 0
    for info, parts in _restore_plan(infos, prefix, s3_uri, errors):
        target = dest_root.joinpath(*parts)
        try:
            if not target.resolve().is_relative_to(dest_root):
                raise ValueError(f"it would land outside {checkpoint_dir}")
            store.get_to_file(bucket, info.key, target)
        except (ObjectStoreError, OSError, ValueError) as exc:
            _report(errors, f"checkpoint s3://{bucket}/{info.key} not restored: {exc}")
            continue
        written += 1
    return written


def _restore_plan(
    infos: Sequence[ObjectInfo], prefix: str, s3_uri: str, errors: list[str] | None
) -> list[tuple[ObjectInfo, tuple[str, ...]]]:
    """The objects to restore with their relative paths: no two on one path, and no
    file where another needs a directory (see :func:`restore_checkpoints`)."""
    chosen: dict[tuple[str, ...], ObjectInfo] = {}
    for info in infos:
        relative = info.key[len(prefix) :]
        if not relative or relative.endswith("/"):
            continue  # a folder marker
        parts = tuple(s for s in relative.split("/") if s not in ("", "."))
        if ".." in parts or not parts:
            _report(errors, f"checkpoint {info.key!r} under {s3_uri} not restored: unsafe path")
            continue
        current = chosen.get(parts)
        if current is None or info.last_modified > current.last_modified:
            chosen[parts] = info
    for parts in sorted(chosen, key=len):
        if parts not in chosen:
            continue  # dropped for a newer file above it
        under = [p for p in chosen if len(p) > len(parts) and p[: len(parts)] == parts]
        if not under:
            continue
        newest_under = max(chosen[p].last_modified for p in under)
        file_wins = chosen[parts].last_modified > newest_under
        for gone in under if file_wins else [parts]:
            newer = "file" if file_wins else "directory"
            _report(
                errors,
                f"checkpoint {chosen[gone].key!r} not restored: a newer {newer} "
                f"{prefix}{'/'.join(parts)} has a clashing name",
            )
            del chosen[gone]
    return [(chosen[parts], parts) for parts in sorted(chosen)]


def save_checkpoints(
    store: ObjectStore,
    s3_uri: str,
    checkpoint_dirs: Sequence[Path],
    errors: list[str] | None = None,
) -> int:
    """Upload new or changed checkpoint files; returns how many. With several instances,
    the first directory (algo-1) is uploaded last so it wins on name clashes.

    Never raises: a file (or listing) that cannot be uploaded is logged, added to
    ``errors`` when given, and the other files still go, so a checkpoint problem can
    neither fail a job whose code succeeded nor keep its results from being uploaded.
    A file counts as unchanged when an object of the same size has the file's MD5 as its
    etag (for multipart etags: when the object is not older than the file).
    """
    try:
        bucket, key = parse_s3_uri(s3_uri)
    except ValueError as exc:
        _report(errors, f"checkpoints not uploaded: {exc}")
        return 0
    base = key if not key or key.endswith("/") else key + "/"
    existing: dict[str, ObjectInfo] = {}
    try:
        existing = {info.key: info for info in store.list(bucket, base)}
    except NoSuchBucket:
        pass
    except Exception as exc:
        _report(errors, f"cannot list the checkpoints under {s3_uri}: {exc}")
    uploaded = 0
    for directory in reversed(checkpoint_dirs):
        try:
            files = regular_files(directory) if directory.is_dir() else []
        except OSError as exc:
            _report(errors, f"cannot read the checkpoint directory {directory}: {exc}")
            continue
        for path in files:
            object_key = base + path.relative_to(directory).as_posix()
            try:
                known = existing.get(object_key)
                if known is None or not is_unchanged(known, path):
                    existing[object_key] = store.put_file(bucket, object_key, path)
                    uploaded += 1
            except Exception as exc:
                _report(
                    errors,
                    f"checkpoint {path.name!r} not uploaded to s3://{bucket}/{object_key}: {exc}",
                )
    return uploaded


def _report(errors: list[str] | None, message: str) -> None:
    log.warning("%s", message)
    if errors is not None:
        errors.append(message)


def results_key(s3_path: str) -> tuple[str, str]:
    """Bucket and key of ``model.tar.gz`` for an ``outputDataConfig.s3Path``."""
    bucket, key = parse_s3_uri(s3_path)
    key = key.rstrip("/")
    return bucket, f"{key}/output/model.tar.gz" if key else "output/model.tar.gz"


@dataclass(frozen=True)
class Skipped:
    """A path of an instance's results directory that ``model.tar.gz`` leaves out.

    ``instance`` is the 0-based index into the directories given to :func:`pack_archive`
    (0 is algo-1); ``path`` is relative to that directory."""

    instance: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"model.tar.gz leaves out {self.path} of the results directory: {self.reason}"


@dataclass
class PackReport:
    """What :func:`pack_results` wrote: regular files and directories, and what it skipped."""

    files: int = 0
    directories: int = 0
    skipped: list[Skipped] = field(default_factory=list)


# A path of one instance's results: its source file, or None for a directory.
_Entries = list[tuple[str, Path | None]]


def _instance_entries(model_dir: Path, index: int, skipped: list[Skipped]) -> _Entries:
    """Files and directories of one results directory, parents before children. A symlink
    counts as what it points to when that lies inside the instance's own directory (the
    parent of ``model_dir``, ``/opt/ml`` in the container); other links, special files
    and unreadable directories are reported in ``skipped``."""
    entries: _Entries = []
    if not model_dir.is_dir():
        return entries
    boundary = model_dir.parent.resolve()

    def skip(relative: str, reason: str) -> None:
        skipped.append(Skipped(index, relative, reason))

    def walk(directory: Path, prefix: str, seen: frozenset[Path]) -> None:
        try:
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            skip(prefix.rstrip("/") or ".", f"cannot be read ({exc.strerror or exc})")
            return
        for child in children:
            relative = prefix + child.name
            path = Path(child.path)
            if child.is_symlink():
                try:
                    link = os.readlink(path)
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    skip(relative, "a symlink whose target does not exist (or a link loop)")
                    continue
                if not target.is_relative_to(boundary):
                    skip(relative, f"a symlink to {link}, outside the instance's directory")
                    continue
            else:
                target = path
            try:
                mode = target.stat().st_mode
            except OSError as exc:
                skip(relative, f"cannot be read ({exc.strerror or exc})")
                continue
            if stat.S_ISDIR(mode):
                real = target.resolve()
                if real in seen:
                    skip(relative, "a symlink to a directory that contains it (a loop)")
                    continue
                entries.append((relative, None))
                walk(target, relative + "/", seen | {real})
            elif stat.S_ISREG(mode):
                entries.append((relative, target))
            else:
                skip(relative, "not a regular file, directory or symlink to one")

    walk(model_dir, "", frozenset({model_dir.resolve()}))
    return entries


def _merge(
    per_instance: Sequence[_Entries], skipped: list[Skipped]
) -> dict[str, tuple[int, Path | None]]:
    """One tree from the instances' entries: the lowest-numbered instance wins each path,
    and a path is never both a file and a directory (nor lies under a file)."""
    chosen: dict[str, tuple[int, Path | None]] = {}
    for index, entries in enumerate(per_instance):
        for relative, source in entries:
            if relative in chosen:
                existing = chosen[relative][1]
                if (existing is None) != (source is None):
                    kind, other = (
                        ("a directory", "a file") if source is None else ("a file", "a directory")
                    )
                    skip_reason = f"{kind} where a lower-numbered instance wrote {other} (it wins)"
                    skipped.append(Skipped(index, relative, skip_reason))
                continue
            parts = relative.split("/")
            ancestors = ("/".join(parts[:n]) for n in range(1, len(parts)))
            if any(chosen.get(a, (0, None))[1] is not None for a in ancestors):
                continue  # under a path that is a file here: its top was reported above
            chosen[relative] = (index, source)
    return chosen


def pack_archive(model_dirs: Sequence[Path], archive: Path) -> PackReport:
    """Tar the union of the instances' results directories into ``archive`` (gzip), with
    paths relative to the directories (``results.json`` at the root), empty directories
    included.

    Clashes are resolved per path, the first directory (algo-1) winning over later ones:
    a file beats a later instance's file or directory of the same name (the loser's whole
    subtree is left out), and a directory beats a later file. So the archive never holds
    both a file and a directory at one path and extracts cleanly. Symlinks are followed
    when they point inside the instance's directory (``model_dir.parent``); anything left
    out for another reason than an ordinary same-kind clash is in the report's ``skipped``.
    Members are plain files and directories only (no links), readable with tarfile's
    ``data`` filter.
    """
    report = PackReport()
    per_instance = [
        _instance_entries(directory, index, report.skipped)
        for index, directory in enumerate(model_dirs)
    ]
    chosen = _merge(per_instance, report.skipped)
    now = int(time.time())
    with tarfile.open(archive, "w:gz") as tar:
        for relative in sorted(chosen):
            owner, source = chosen[relative]
            info = tarfile.TarInfo(relative)
            if source is None:
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
                tar.addfile(info)
                report.directories += 1
                continue
            try:
                data = open(source, "rb")  # noqa: SIM115 - closed by the with below
            except OSError as exc:
                reason = f"cannot be read ({exc.strerror or exc})"
                report.skipped.append(Skipped(owner, relative, reason))
                continue
            with data:
                status = os.fstat(data.fileno())
                info.size, info.mode = status.st_size, stat.S_IMODE(status.st_mode)
                info.mtime = int(status.st_mtime)
                tar.addfile(info, data)
            report.files += 1
    return report


def pack_results(model_dirs: Sequence[Path], archive: Path) -> int:
    """:func:`pack_archive`; returns the number of files."""
    return pack_archive(model_dirs, archive).files


def upload_results(
    store: ObjectStore,
    model_dirs: Sequence[Path],
    s3_path: str,
    on_skipped: Callable[[Sequence[Skipped]], None] | None = None,
) -> str:
    """Pack the results and upload ``model.tar.gz``; returns its ``s3://`` URI.

    ``on_skipped`` hears of the paths the archive left out, if any (see :func:`pack_archive`)."""
    bucket, key = results_key(s3_path)
    with tempfile.TemporaryDirectory(prefix="hybridjobs-results-") as scratch:
        archive = Path(scratch, "model.tar.gz")
        report = pack_archive(model_dirs, archive)
        store.put_file(bucket, key, archive)
    if on_skipped is not None and report.skipped:
        on_skipped(report.skipped)
    return f"s3://{bucket}/{key}"
