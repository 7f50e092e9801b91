"""Object storage behind one small interface, plus the two transfers jobs need.

``open_object_store(config)`` builds a store from its ``config()`` description;
``download_prefix`` fetches an input channel with SageMaker's S3Prefix rules and
``upload_dir`` syncs a directory (checkpoints) up to a prefix. Importing this package
loads only the standard library: boto3 is imported when an S3 store is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from hybridjobs.objects.base import (
    STAGING_PREFIX,
    BucketNotEmpty,
    ByteRange,
    InvalidObjectName,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
    parse_s3_uri,
)
from hybridjobs.objects.local import LocalObjectStore

__all__ = [
    "STAGING_PREFIX",
    "BucketNotEmpty",
    "ByteRange",
    "InvalidObjectName",
    "InvalidRange",
    "LocalObjectStore",
    "NoSuchBucket",
    "NoSuchKey",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "download_prefix",
    "is_unchanged",
    "open_object_store",
    "parse_s3_uri",
    "regular_files",
    "upload_dir",
]


def open_object_store(config: Mapping[str, str]) -> ObjectStore:
    """Build the store described by ``config`` (the output of a store's ``config()``).

    ``{"kind": "local", "root": DIR}``, ``{"kind": "s3", "region": R, "endpoint_url": U?}``
    or ``{"kind": "prefixed", "bucket": B, "prefix": P, "inner": <JSON of the inner
    store's config>}`` (S3 credentials come from the environment). Anything else raises
    ``ValueError``.
    """
    kind = config.get("kind")
    if kind == "local":
        return LocalObjectStore(Path(config["root"]))
    if kind == "s3":
        from hybridjobs.objects.s3 import S3ObjectStore

        return S3ObjectStore(config.get("endpoint_url") or None, config["region"])
    if kind == "prefixed":
        from hybridjobs.objects.prefixed import PrefixedObjectStore

        inner = open_object_store(json.loads(config["inner"]))
        return PrefixedObjectStore(inner, config["bucket"], config.get("prefix", ""))
    raise ValueError(f"unknown object store kind {kind!r} in {dict(config)!r}")


def download_prefix(store: ObjectStore, bucket: str, prefix: str, dest_dir: Path) -> list[Path]:
    """Download every object under ``prefix`` into ``dest_dir``; return the files written.

    S3Prefix rules (as the Braket SDK's local mode applies them): when ``prefix`` ends with
    ``/`` or every matched key lies under ``prefix + "/"``, the prefix is a directory and
    its *contents* land in ``dest_dir`` with their relative paths. Otherwise paths are kept
    relative to the prefix's parent "directory", so ``data/file.csv`` arrives as
    ``dest_dir/file.csv`` and ``data/fi`` matching ``data/fig/a`` gives ``dest_dir/fig/a``.
    Keys ending in ``/`` (folder markers) and keys under :data:`STAGING_PREFIX` are
    skipped. No match returns ``[]``.

    Every key is checked before anything is written: one with a ``..`` segment, or that
    would land outside ``dest_dir``, raises :class:`InvalidObjectName`.
    """
    infos = [i for i in store.list(bucket, prefix) if not i.key.startswith(STAGING_PREFIX)]
    if prefix.endswith("/"):
        top = prefix[:-1]
    elif all(info.key.startswith(prefix + "/") for info in infos):
        top = prefix
    else:
        top = prefix.rpartition("/")[0]
    dest_root = Path(dest_dir).resolve()
    plan: list[tuple[str, Path]] = []
    for info in infos:
        if info.key.endswith("/"):
            continue
        relative = info.key[len(top) + 1 :] if top else info.key
        segments = [s for s in relative.split("/") if s not in ("", ".")]
        if ".." in segments or not segments:
            raise InvalidObjectName(f"refusing to download key {info.key!r}: unsafe path")
        target = dest_root.joinpath(*segments)
        if not target.resolve().is_relative_to(dest_root):
            raise InvalidObjectName(f"refusing to download key {info.key!r}: escapes {dest_dir}")
        plan.append((info.key, target))
    for key, target in plan:
        store.get_to_file(bucket, key, target)
    return [target for _, target in plan]


def upload_dir(store: ObjectStore, src_dir: Path, bucket: str, prefix: str) -> int:
    """Upload the new or changed files of ``src_dir`` to ``prefix``; return how many.

    The key of ``src_dir/a/b`` is ``prefix/a/b`` (a ``/`` is added after a non-empty
    ``prefix`` that lacks one). A file counts as unchanged when an object of the same size
    has the file's MD5 as its etag (for multipart etags: when the object is not older than
    the file). Symbolic links are not followed, so nothing outside ``src_dir`` is uploaded.
    Objects whose file was deleted are left alone. The bucket is created if missing.
    """
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    try:
        existing = {info.key: info for info in store.list(bucket, base)}
    except NoSuchBucket:
        existing = {}
    uploaded = 0
    for path in regular_files(Path(src_dir)):
        key = base + path.relative_to(src_dir).as_posix()
        known = existing.get(key)
        if known is None or not is_unchanged(known, path):
            store.put_file(bucket, key, path)
            uploaded += 1
    return uploaded


def regular_files(root: Path) -> list[Path]:
    """The regular files under ``root`` (symbolic links left out), in a stable order."""
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def is_unchanged(known: ObjectInfo, path: Path) -> bool:
    """Whether the file at ``path`` holds what the stored object ``known`` holds (size and
    MD5 ETag; a multipart ETag compares by modification time)."""
    stat = path.stat()
    if known.size != stat.st_size:
        return False
    etag = known.etag.strip('"')
    if "-" in etag:
        return known.last_modified >= stat.st_mtime
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == etag
