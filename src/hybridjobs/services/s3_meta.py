"""What S3 remembers about objects beyond their bytes, kept beside the object store.

The object store holds content only, so the S3 surface keeps a small JSON sidecar per
object that needs one: the Content-Type and standard headers given at upload, user
metadata (``x-amz-meta-*``) and the multipart ETag (``"<md5 of part md5s>-<n>"``). A
sidecar is trusted only while the object still has the size and modification time it
recorded, so an object rewritten behind the S3 surface (a job writing the directory
directly) simply loses it. Sidecars live under their own root, outside the object
namespace, as ``ROOT/objects/<bucket>/<sha256(key)>.json``; bucket creation records live
in ``ROOT/buckets/<bucket>.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybridjobs.objects import ObjectInfo
from hybridjobs.objects.local import atomic_write

STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
"""Standard object headers kept as given at upload (model member names)."""

_SAFE_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class ObjectMeta:
    """Upload-time attributes of one object (all optional)."""

    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    s3_etag: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.content_type or self.metadata or self.headers or self.s3_etag or self.tags)


@dataclass(frozen=True)
class BucketRecord:
    """When and for which region a bucket was created through the S3 surface."""

    created: float
    region: str


class MetaStore:
    """Sidecar records under ``root`` (see the module docstring). Thread-safe: every
    write is atomic, the last writer wins."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    # -- objects -----------------------------------------------------------------------

    def get(self, bucket: str, key: str, info: ObjectInfo) -> ObjectMeta:
        """The record of ``key`` if it still describes ``info``, else an empty one."""
        try:
            raw = json.loads(self._object_path(bucket, key).read_text())
        except (OSError, ValueError):
            return ObjectMeta()
        if raw.get("key") != key or raw.get("size") != info.size:
            return ObjectMeta()
        if raw.get("mtime") != info.last_modified:
            return ObjectMeta()
        return ObjectMeta(
            content_type=raw.get("content_type"),
            metadata=dict(raw.get("metadata") or {}),
            headers=dict(raw.get("headers") or {}),
            s3_etag=raw.get("s3_etag"),
            tags=dict(raw.get("tags") or {}),
        )

    def has_records(self, bucket: str) -> bool:
        """Whether any object of ``bucket`` may have a record (a cheap check that lets a
        listing skip per-object lookups)."""
        return os.path.isdir(os.path.join(self._root, "objects", _checked(bucket)))

    def put(self, bucket: str, key: str, info: ObjectInfo, meta: ObjectMeta) -> None:
        """Record ``meta`` for the object just written as ``info`` (an empty record only
        removes an older one)."""
        path = self._object_path(bucket, key)
        if meta.is_empty():
            path.unlink(missing_ok=True)
            return
        document: dict[str, Any] = {
            "key": key,
            "size": info.size,
            "mtime": info.last_modified,
            **asdict(meta),
        }
        data = json.dumps(document).encode()
        atomic_write(path, lambda out: out.write(data))

    def drop(self, bucket: str, key: str) -> None:
        """Forget the record of ``key`` (no error when there is none)."""
        self._object_path(bucket, key).unlink(missing_ok=True)

    # -- buckets -----------------------------------------------------------------------

    def record_bucket(self, bucket: str, region: str) -> None:
        """Remember that ``bucket`` was created now, for ``region``."""
        data = json.dumps({"created": time.time(), "region": region}).encode()
        atomic_write(self._bucket_path(bucket), lambda out: out.write(data))

    def bucket(self, bucket: str) -> BucketRecord | None:
        """The creation record of ``bucket``, if it was created through the S3 surface."""
        try:
            raw = json.loads(self._bucket_path(bucket).read_text())
            return BucketRecord(float(raw["created"]), str(raw["region"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def drop_bucket(self, bucket: str) -> None:
        """Forget the bucket and every object record in it."""
        self._bucket_path(bucket).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self._root / "objects" / _checked(bucket))

    def _bucket_path(self, bucket: str) -> Path:
        return self._root / "buckets" / f"{_checked(bucket)}.json"

    def _object_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        return Path(
            os.path.join(self._root, "objects", _checked(bucket), digest[:2], f"{digest}.json")
        )


def _checked(bucket: str) -> str:
    """``bucket`` if it is safe as one path component; ``ValueError`` otherwise."""
    if not _SAFE_BUCKET.match(bucket):
        raise ValueError(f"unsafe bucket name for a sidecar path: {bucket!r}")
    return bucket
