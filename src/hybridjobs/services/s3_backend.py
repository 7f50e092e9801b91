"""The state behind the S3 surface: the object store plus the S3-only records around it.

Handlers reach objects only through :class:`S3Backend`, which pairs every object with its
record (:class:`~hybridjobs.store.objectmetabase.ObjectMetaStore`, in the service's
database) so that the ETag, Content-Type, user metadata and tags S3 reports stay
consistent across PutObject, multipart, HEAD, GET and lists; multipart uploads are staged
in the object store itself (:mod:`hybridjobs.services.s3_staging`). Nothing is kept on the
API process's disk, so any number of API processes can serve one database and one store.

Keys under :data:`~hybridjobs.objects.STAGING_PREFIX` belong to the staging: listings
leave them out and every operation on such a key is refused (``InvalidArgument``).
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.objects import (
    STAGING_PREFIX,
    BucketNotEmpty,
    InvalidObjectName,
    NoSuchBucket,
    ObjectInfo,
    ObjectStore,
)
from hybridjobs.services.s3_core import no_such_bucket
from hybridjobs.services.s3_staging import MultipartStaging
from hybridjobs.store.objectmetabase import BucketRecord, ObjectMeta, ObjectMetaStore

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
"""Standard object headers kept as given at upload (model member names)."""


def guess_content_type(key: str) -> str:
    """The Content-Type S3 reports for an object stored without one: a guess from the
    key's extension, else ``binary/octet-stream`` (S3's own default)."""
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


def check_key(key: str) -> None:
    """Raise :class:`InvalidObjectName` for a key reserved for multipart staging."""
    if key.startswith(STAGING_PREFIX):
        raise InvalidObjectName(f"keys under {STAGING_PREFIX!r} are reserved by hybridjobs")


@dataclass(frozen=True)
class StoredObject:
    """An object as S3 describes it: store facts plus its record."""

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
    """Object store, records and multipart staging, used by every handler."""

    objects: ObjectStore
    records: ObjectMetaStore
    staging: MultipartStaging

    @classmethod
    def open(cls, objects: ObjectStore, records: ObjectMetaStore) -> S3Backend:
        """A backend over ``objects`` whose records live in ``records`` and whose
        multipart uploads are staged in ``objects``."""
        return cls(objects=objects, records=records, staging=MultipartStaging(objects))

    # -- buckets ----------------------------------------------------------------------

    def require_bucket(self, bucket: str) -> None:
        """Raise S3's ``NoSuchBucket`` unless ``bucket`` exists."""
        if not self.objects.bucket_exists(bucket):
            raise no_such_bucket(bucket)

    def create_bucket(self, bucket: str, region: str, account_id: str | None = None) -> None:
        """Create ``bucket`` and record its creation for ``region`` by ``account_id``."""
        self.objects.create_bucket(bucket)
        self.records.record_bucket(bucket, region, time.time(), account_id)

    def bucket_record(self, bucket: str) -> BucketRecord | None:
        """How ``bucket`` was created, when it was created through S3."""
        return self.records.bucket_record(bucket)

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket (uploads in progress go with it) and its records;
        :class:`BucketNotEmpty` while it holds objects."""
        if next(self.list_objects(bucket), None) is not None:
            raise BucketNotEmpty(f"bucket {bucket!r} is not empty")
        self.staging.discard_all(bucket)
        self.objects.delete_bucket(bucket)
        self.records.drop_bucket_records(bucket)

    # -- objects ----------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """The clients' objects whose key starts with ``prefix``, ascending by key
        (staged parts left out; the bucket is checked now)."""
        if prefix.startswith(STAGING_PREFIX):
            if not self.objects.bucket_exists(bucket):
                raise NoSuchBucket(f"bucket {bucket!r} does not exist")
            return iter(())
        infos = self.objects.list(bucket, prefix)
        return (info for info in infos if not info.key.startswith(STAGING_PREFIX))

    def describe(self, bucket: str, key: str) -> StoredObject:
        """The object ``key`` with its record (store errors propagate)."""
        check_key(key)
        info = self.objects.head(bucket, key)
        return StoredObject(info, self.records.object_meta(bucket, key, info))

    def with_meta(self, bucket: str, infos: list[ObjectInfo]) -> list[StoredObject]:
        """``infos`` (from a listing of ``bucket``) with their records."""
        metas = self.records.object_metas(bucket, infos) if infos else []
        return [StoredObject(info, meta) for info, meta in zip(infos, metas, strict=True)]

    def put_bytes(self, bucket: str, key: str, data: bytes, meta: ObjectMeta) -> StoredObject:
        """Store ``data`` and its record; the bucket must exist (checked by the caller)."""
        check_key(key)
        info = self.objects.put_bytes(bucket, key, data)
        self.records.put_object_meta(bucket, key, info, meta)
        return StoredObject(info, meta)

    def put_file(self, bucket: str, key: str, path: Path, meta: ObjectMeta) -> StoredObject:
        """Store the file's content and its record."""
        check_key(key)
        info = self.objects.put_file(bucket, key, path)
        self.records.put_object_meta(bucket, key, info, meta)
        return StoredObject(info, meta)

    def copy(
        self, source: tuple[str, str], target: tuple[str, str], meta: ObjectMeta
    ) -> StoredObject:
        """Copy ``source`` to ``target`` (``(bucket, key)`` pairs), recording ``meta``."""
        check_key(source[1])
        check_key(target[1])
        info = self.objects.copy(source[0], source[1], target[0], target[1])
        self.records.put_object_meta(target[0], target[1], info, meta)
        return StoredObject(info, meta)

    def set_meta(self, bucket: str, stored: StoredObject, meta: ObjectMeta) -> None:
        """Replace the record of the object ``stored`` (its bytes stay as they are)."""
        self.records.put_object_meta(bucket, stored.info.key, stored.info, meta)

    def delete(self, bucket: str, key: str) -> None:
        """Delete the object and its record (a missing key is not an error)."""
        check_key(key)
        self.objects.delete(bucket, key)
        self.records.drop_object_meta(bucket, key)
