"""Moving a job's data: input channels and checkpoints in, results and checkpoints out."""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridjobs.objects import (
    NoSuchBucket,
    ObjectStore,
    ObjectStoreError,
    download_prefix,
    parse_s3_uri,
    upload_dir,
)


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


def restore_checkpoints(store: ObjectStore, s3_uri: str, checkpoint_dir: Path) -> int:
    """Copy what lies under ``s3_uri`` into ``checkpoint_dir``; returns files written."""
    bucket, key = parse_s3_uri(s3_uri)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    prefix = key if not key or key.endswith("/") else key + "/"
    try:
        return len(download_prefix(store, bucket, prefix, checkpoint_dir))
    except NoSuchBucket:  # nothing saved there yet
        return 0


def save_checkpoints(store: ObjectStore, s3_uri: str, checkpoint_dirs: Sequence[Path]) -> int:
    """Upload new or changed checkpoint files; with several instances, the first
    directory (algo-1) is uploaded last so it wins on name clashes."""
    bucket, key = parse_s3_uri(s3_uri)
    uploaded = 0
    for directory in reversed(checkpoint_dirs):
        if directory.is_dir():
            uploaded += upload_dir(store, directory, bucket, key)
    return uploaded


def results_key(s3_path: str) -> tuple[str, str]:
    """Bucket and key of ``model.tar.gz`` for an ``outputDataConfig.s3Path``."""
    bucket, key = parse_s3_uri(s3_path)
    key = key.rstrip("/")
    return bucket, f"{key}/output/model.tar.gz" if key else "output/model.tar.gz"


def pack_results(model_dirs: Sequence[Path], archive: Path) -> int:
    """Tar the union of the instances' results directories into ``archive`` (gzip), with
    paths relative to the directories (``results.json`` at the root). The first directory
    (algo-1) wins when two instances wrote the same name. Returns the number of files."""
    chosen: dict[str, Path] = {}
    for directory in reversed(model_dirs):
        if not directory.is_dir():
            continue
        for root, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(root, name)
                if path.is_symlink() or not path.is_file():
                    continue
                chosen[path.relative_to(directory).as_posix()] = path
    with tarfile.open(archive, "w:gz") as tar:
        for relative in sorted(chosen):
            tar.add(chosen[relative], arcname=relative, recursive=False)
    return len(chosen)


def upload_results(store: ObjectStore, model_dirs: Sequence[Path], s3_path: str) -> str:
    """Pack the results and upload ``model.tar.gz``; returns its ``s3://`` URI."""
    bucket, key = results_key(s3_path)
    with tempfile.TemporaryDirectory(prefix="hybridjobs-results-") as scratch:
        archive = Path(scratch, "model.tar.gz")
        pack_results(model_dirs, archive)
        store.put_file(bucket, key, archive)
    return f"s3://{bucket}/{key}"
