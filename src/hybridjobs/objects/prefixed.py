"""Every bucket of the service inside one prefix of one real bucket (``--objects s3://B/P``).

Layout in the real bucket ``B`` (``P`` is the prefix without its surrounding slashes; with
an empty prefix the names start at the bucket's root):

* ``P/<bucket>/<key>`` -- object ``<key>`` of the service's bucket ``<bucket>``;
* ``P/.hybridjobs-buckets/<bucket>`` -- an empty marker object: the bucket exists.

Markers sit apart from the buckets' objects, so listing the buckets reads only markers,
and no object name is both a "file" and a "folder" (which some S3-compatible stores
refuse). Bucket names and keys obey the local store's rules
(:mod:`hybridjobs.objects.localkeys`: a bucket is one path segment that starts with a
letter or digit, so it never meets the marker folder; keys are 1 to 1024 bytes of UTF-8
without NUL or ``.``/``..`` segments, so no store that normalises paths can carry a key
into another bucket), and anything else raises
:class:`~hybridjobs.objects.base.InvalidObjectName`.

The store keeps no state of its own: every process that opens the same real bucket and
prefix sees the same buckets and objects. Objects without a marker (left by a concurrent
``delete_bucket``) are still served by their key, but their bucket counts as missing.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from pathlib import Path

from hybridjobs.objects.base import (
    BucketNotEmpty,
    ByteRange,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
)
from hybridjobs.objects.localkeys import BUCKET_NAME, validate_bucket, validate_key

MARKERS = ".hybridjobs-buckets"
"""The folder, under the prefix, of the buckets' marker objects."""


class PrefixedObjectStore:
    """The buckets of the service as folders of ``bucket`` (a real bucket of ``inner``)
    under ``prefix`` (see the module docstring). Thread-safe when ``inner`` is."""

    def __init__(self, inner: ObjectStore, bucket: str, prefix: str = "") -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"not a bucket name: {bucket!r}")
        self._inner = inner
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._base = f"{self._prefix}/" if self._prefix else ""

    def config(self) -> dict[str, str]:
        """``{"kind": "prefixed", "bucket", "prefix", "inner": <JSON of inner.config()>}``."""
        return {
            "kind": "prefixed",
            "bucket": self._bucket,
            "prefix": self._prefix,
            "inner": json.dumps(self._inner.config(), sort_keys=True),
        }

    # -- buckets ---------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        """Write the bucket's marker (idempotent); the real bucket is created if missing."""
        validate_bucket(bucket)
        self._inner.put_bytes(self._bucket, self._marker(bucket), b"")

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket's marker exists (``False`` for invalid names)."""
        if not BUCKET_NAME.match(bucket):
            return False
        try:
            self._inner.head(self._bucket, self._marker(bucket))
        except (NoSuchKey, NoSuchBucket):
            return False
        return True

    def list_buckets(self) -> builtins.list[str]:
        """The names of the markers, sorted (none while the real bucket is missing)."""
        folder = f"{self._base}{MARKERS}/"
        try:
            markers = self._inner.list(self._bucket, folder)
        except NoSuchBucket:
            return []
        names = (info.key[len(folder) :] for info in markers)
        return sorted(name for name in names if BUCKET_NAME.match(name))

    def delete_bucket(self, bucket: str) -> None:
        """Remove the marker of an empty bucket; :class:`BucketNotEmpty` otherwise."""
        self._require(bucket)
        if next(iter(self._inner.list(self._bucket, self._folder(bucket))), None) is not None:
            raise BucketNotEmpty(f"bucket {bucket!r} is not empty")
        self._inner.delete(self._bucket, self._marker(bucket))

    # -- objects ---------------------------------------------------------------------

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        """Store ``data``; creates the bucket if missing."""
        real = self._writable(bucket, key)
        return self._ours(key, self._inner.put_bytes(self._bucket, real, data))

    def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Store the file's content; creates the bucket if missing."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"no such file: {path}")
        real = self._writable(bucket, key)
        return self._ours(key, self._inner.put_file(self._bucket, real, path))

    def get_bytes(self, bucket: str, key: str, byte_range: ByteRange | None = None) -> bytes:
        """The content, or an inclusive byte range of it (see the protocol)."""
        real = self._real(bucket, key)
        try:
            return self._inner.get_bytes(self._bucket, real, byte_range)
        except (NoSuchKey, NoSuchBucket):
            raise self._missing(bucket, key) from None

    def get_to_file(self, bucket: str, key: str, path: Path) -> None:
        """Write the object to ``path`` atomically."""
        real = self._real(bucket, key)
        try:
            self._inner.get_to_file(self._bucket, real, path)
        except (NoSuchKey, NoSuchBucket):
            raise self._missing(bucket, key) from None

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Size, modification time and ETag of the object."""
        real = self._real(bucket, key)
        try:
            return self._ours(key, self._inner.head(self._bucket, real))
        except (NoSuchKey, NoSuchBucket):
            raise self._missing(bucket, key) from None

    def delete(self, bucket: str, key: str) -> None:
        """Delete one object (a missing key is fine, a missing bucket is not)."""
        real = self._real(bucket, key)
        self._require(bucket)
        self._inner.delete(self._bucket, real)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> ObjectInfo:
        """Copy inside the real bucket; creates the destination bucket if missing."""
        source = self._real(src_bucket, src_key)
        target = self._writable(dst_bucket, dst_key)
        try:
            info = self._inner.copy(self._bucket, source, self._bucket, target)
        except (NoSuchKey, NoSuchBucket):
            raise self._missing(src_bucket, src_key) from None
        return self._ours(dst_key, info)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects of ``bucket`` whose key starts with ``prefix``, ascending by key (the
        bucket is checked now, not when the iterator is first used)."""
        self._require(bucket)
        folder = self._folder(bucket)
        infos = self._inner.list(self._bucket, folder + prefix)
        return (self._ours(info.key[len(folder) :], info) for info in infos)

    # -- internals -------------------------------------------------------------------

    def _marker(self, bucket: str) -> str:
        return f"{self._base}{MARKERS}/{bucket}"

    def _folder(self, bucket: str) -> str:
        return f"{self._base}{bucket}/"

    def _real(self, bucket: str, key: str) -> str:
        """The real key of ``key`` of ``bucket``; validates both names."""
        validate_bucket(bucket)
        validate_key(key)
        return self._folder(bucket) + key

    def _writable(self, bucket: str, key: str) -> str:
        """The real key to write ``key`` to, the bucket's marker written first if missing."""
        real = self._real(bucket, key)
        if not self.bucket_exists(bucket):
            self.create_bucket(bucket)
        return real

    def _require(self, bucket: str) -> None:
        validate_bucket(bucket)
        if not self.bucket_exists(bucket):
            raise NoSuchBucket(f"bucket {bucket!r} does not exist")

    def _missing(self, bucket: str, key: str) -> NoSuchBucket | NoSuchKey:
        """The error for an object that is not there: its bucket's, or its own."""
        if not self.bucket_exists(bucket):
            return NoSuchBucket(f"bucket {bucket!r} does not exist")
        return NoSuchKey(f"no object {key!r} in bucket {bucket!r}")

    @staticmethod
    def _ours(key: str, info: ObjectInfo) -> ObjectInfo:
        return ObjectInfo(key, info.size, info.last_modified, info.etag)
