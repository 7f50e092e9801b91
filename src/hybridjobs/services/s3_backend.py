"""The state behind the S3 surface: the object store plus the S3-only records around it.

Handlers reach objects only through :class:`S3Backend`, which pairs every object with its
sidecar record (:mod:`hybridjobs.services.s3_meta`) so that the ETag, Content-Type and
user metadata S3 reports stay consistent across PutObject, multipart, HEAD, GET and lists.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.objects import ObjectInfo, ObjectStore
from hybridjobs.services.s3_core import no_such_bucket
from hybridjobs.services.s3_meta import MetaStore, ObjectMeta
from hybridjobs.services.s3_staging import MultipartStaging

DEFAULT_CONTENT_TYPE = "binary/octet-stream"


def guess_content_type(key: str) -> str:
    """The Content-Type S3 reports for an object stored without one: a guess from the
    key's extension, else ``binary/octet-stream`` (S3's own default)."""
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


@dataclass(frozen=True)
class StoredObject:
    """An object as S3 describes it: store facts plus its sidecar record."""

    info: ObjectInfo
    meta: ObjectMeta

    @property
    def etag(self) -> str:
        """The multipart ETag when the object was assembled from parts, else the MD5 one."""
        return self.meta.s3_etag or self.info.etag

    @property
    def content_type(self) -> str:
        return self.meta.content_type or guess_content_type(self.info.key)


@dataclass
class S3Backend:
    """Object store, sidecar records and multipart staging, used by every handler."""

    objects: ObjectStore
    meta: MetaStore
    staging: MultipartStaging

    @classmethod
    def open(cls, objects: ObjectStore, state_dir: Path) -> S3Backend:
        """A backend whose S3-only state lives under ``state_dir``: ``multipart/`` for
        staged uploads and ``s3meta/`` for sidecar records."""
        return cls(
            objects=objects,
            meta=MetaStore(Path(state_dir) / "s3meta"),
            staging=MultipartStaging(Path(state_dir) / "multipart"),
        )

    def require_bucket(self, bucket: str) -> None:
        """Raise S3's ``NoSuchBucket`` unless ``bucket`` exists."""
        if not self.objects.bucket_exists(bucket):
            raise no_such_bucket(bucket)

    def describe(self, bucket: str, key: str) -> StoredObject:
        """The object ``key`` with its record (store errors propagate)."""
        info = self.objects.head(bucket, key)
        return StoredObject(info, self.meta.get(bucket, key, info))

    def with_meta(self, bucket: str, infos: list[ObjectInfo]) -> list[StoredObject]:
        """``infos`` (from a listing of ``bucket``) with their records."""
        if not self.meta.has_records(bucket):
            return [StoredObject(info, ObjectMeta()) for info in infos]
        return [StoredObject(info, self.meta.get(bucket, info.key, info)) for info in infos]

    def put_bytes(self, bucket: str, key: str, data: bytes, meta: ObjectMeta) -> StoredObject:
        """Store ``data`` and its record; the bucket must exist (checked by the caller)."""
        info = self.objects.put_bytes(bucket, key, data)
        self.meta.put(bucket, key, info, meta)
        return StoredObject(info, meta)

    def put_file(self, bucket: str, key: str, path: Path, meta: ObjectMeta) -> StoredObject:
        """Store the file's content and its record."""
        info = self.objects.put_file(bucket, key, path)
        self.meta.put(bucket, key, info, meta)
        return StoredObject(info, meta)

    def copy(
        self, source: tuple[str, str], target: tuple[str, str], meta: ObjectMeta
    ) -> StoredObject:
        """Copy ``source`` to ``target`` (``(bucket, key)`` pairs), recording ``meta``."""
        info = self.objects.copy(source[0], source[1], target[0], target[1])
        self.meta.put(target[0], target[1], info, meta)
        return StoredObject(info, meta)

    def delete(self, bucket: str, key: str) -> None:
        """Delete the object and its record (a missing key is not an error)."""
        self.objects.delete(bucket, key)
        self.meta.drop(bucket, key)
