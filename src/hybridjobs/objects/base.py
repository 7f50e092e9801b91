"""The object-storage interface: what every store offers, its errors, and S3 URI parsing.

A store holds buckets of objects addressed by ``(bucket, key)``, with S3 semantics:

* keys are opaque strings; ``list`` filters by a plain string prefix and yields keys in
  ascending order (code-point order, which equals S3's UTF-8 byte order);
* an object's ``etag`` is the quoted MD5 hex digest of its content (``"d41d8cd9..."``),
  except for objects uploaded to real S3 in several parts;
* ``delete`` of a missing key is not an error, ``create_bucket`` of a bucket that already
  exists is not an error, and ``put_*`` / ``copy`` create the destination bucket when it is
  missing (a convenience for the service, which owns its buckets).

Keys under :data:`STAGING_PREFIX` are the service's own: the S3 surface keeps the parts of
multipart uploads in progress there, in the upload's bucket, and never lists, serves or
accepts them from clients; :func:`hybridjobs.objects.download_prefix` skips them.

Implementations: :class:`hybridjobs.objects.local.LocalObjectStore` (a directory),
:class:`hybridjobs.objects.s3.S3ObjectStore` (boto3, one real bucket per bucket) and
:class:`hybridjobs.objects.prefixed.PrefixedObjectStore` (every bucket under one prefix of
one real bucket). All pass the same contract tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

STAGING_PREFIX = ".hybridjobs-uploads/"
"""Keys reserved for the S3 surface's multipart staging (see the module docstring)."""

ByteRange = tuple[int, int | None]
"""An inclusive byte range ``(first, last)``; ``last=None`` reads to the end (like HTTP)."""


class ObjectStoreError(Exception):
    """Base class of every error raised by an object store."""


class NoSuchBucket(ObjectStoreError):
    """The bucket does not exist."""


class NoSuchKey(ObjectStoreError):
    """The bucket exists but holds no object under that key."""


class BucketNotEmpty(ObjectStoreError):
    """``delete_bucket`` was asked to delete a bucket that still holds objects."""


class InvalidRange(ObjectStoreError):
    """The requested byte range starts at or after the end of the object."""


class InvalidObjectName(ObjectStoreError, ValueError):
    """A bucket name or key that this store cannot hold safely (see the store's docs)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What ``head`` and ``list`` report about one object.

    ``last_modified`` is seconds since the epoch; ``etag`` is quoted like S3's (``'"…"'``).
    """

    key: str
    size: int
    last_modified: float
    etag: str


@runtime_checkable
class ObjectStore(Protocol):
    """Buckets of objects with S3 semantics (see the module docstring).

    Every method raises :class:`NoSuchBucket` when the bucket is missing (except the ones
    that create it), :class:`NoSuchKey` when an object is missing, and
    :class:`ObjectStoreError` for anything else the backend refuses.
    """

    def config(self) -> dict[str, str]:
        """A JSON-able description, without secrets, that ``open_object_store`` rebuilds
        into an equivalent store (credentials then come from the environment)."""
        ...

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket``; succeed quietly when it already exists."""
        ...

    def bucket_exists(self, bucket: str) -> bool:
        """Whether ``bucket`` exists."""
        ...

    def list_buckets(self) -> list[str]:
        """The names of all buckets, sorted."""
        ...

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket; :class:`BucketNotEmpty` when it holds objects."""
        ...

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` under ``key`` (replacing any object); creates the bucket if missing."""
        ...

    def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Store the content of the file ``path``; creates the bucket if missing."""
        ...

    def get_bytes(self, bucket: str, key: str, byte_range: ByteRange | None = None) -> bytes:
        """The object's content, or the inclusive ``byte_range`` of it.

        ``last`` past the end is clipped; ``first`` at or past the end raises
        :class:`InvalidRange`; ``first < 0`` or ``last < first`` raise ``ValueError``.
        """
        ...

    def get_to_file(self, bucket: str, key: str, path: Path) -> None:
        """Write the object to ``path`` atomically (parents are created)."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Size, modification time and etag of one object."""
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Delete one object; a missing key is not an error (a missing bucket is)."""
        ...

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> ObjectInfo:
        """Copy one object; creates the destination bucket if missing."""
        ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, ascending by key.

        The bucket is checked when ``list`` is called, not when the iterator is first used.
        """
        ...


def check_byte_range(byte_range: ByteRange) -> None:
    """Raise ``ValueError`` for a malformed range (negative start, or end before start)."""
    first, last = byte_range
    if first < 0:
        raise ValueError(f"byte range start must be >= 0, got {first}")
    if last is not None and last < first:
        raise ValueError(f"byte range end {last} is before its start {first}")


_VIRTUAL_HOST = re.compile(
    r"^(?P<bucket>[^/]+?)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?$"
)
_PATH_HOST = re.compile(r"^s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split an S3 location into ``(bucket, key)``.

    Accepted forms: ``s3://bucket/key``, virtual-hosted
    ``https://bucket.s3.<region>.amazonaws.com/key`` and path-style
    ``https://s3.<region>.amazonaws.com/bucket/key`` (the region part is optional). The
    key may be empty (``s3://bucket`` or ``s3://bucket/``: the whole bucket); the bucket
    may not. In the HTTPS forms the key is percent-decoded. Anything else raises
    ``ValueError`` naming the URI.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        # Not urlsplit's path: S3 keys may contain '?' and '#'.
        bucket, _, key = uri[len("s3://") :].partition("/")
    elif scheme == "https":
        host = (parts.hostname or "").lower()
        path = unquote(parts.path).removeprefix("/")
        if match := _VIRTUAL_HOST.match(host):
            bucket, key = match["bucket"], path
        elif _PATH_HOST.match(host):
            bucket, _, key = path.partition("/")
        else:
            raise ValueError(
                f"not an S3 URI: {uri!r} (expected s3://bucket/key or an "
                "https://…amazonaws.com S3 URL)"
            )
    else:
        raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    if not bucket:
        raise ValueError(f"S3 URI has no bucket: {uri!r}")
    return bucket, key
