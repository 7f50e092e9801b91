"""What the S3 surface remembers about objects and buckets beyond the object store's bytes.

The object store holds content only. The S3 surface also reports, per object, the
Content-Type and standard headers given at upload, user metadata (``x-amz-meta-*``), the
multipart ETag (``"<md5 of part md5s>-<n>"``) and the tag set; per bucket, when and for
which region it was created. These records live in the service's database (shared by
every API process), never on an API process's disk.

An object's record is trusted only while the object still has the size and store ETag it
was recorded with, so an object rewritten behind the S3 surface (a job writing the file
directly) with other content simply loses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hybridjobs.objects import ObjectInfo


@dataclass
class ObjectMeta:
    """Upload-time attributes of one object (all optional)."""

    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    s3_etag: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """Whether the record says nothing (storing it only removes an older one)."""
        return not (self.content_type or self.metadata or self.headers or self.s3_etag or self.tags)


@dataclass(frozen=True)
class BucketRecord:
    """When (epoch seconds), for which region and by which account (``None``: before
    accounts were recorded) a bucket was created through S3."""

    created: float
    region: str
    account_id: str | None = None


class ObjectMetaStore(Protocol):
    """Durable, shared records of objects and buckets. Writes are atomic and the last
    writer wins; every method is safe to call from several threads and processes."""

    def object_meta(self, bucket: str, key: str, info: ObjectInfo) -> ObjectMeta:
        """The record of ``key`` if it still describes ``info`` (same size and ETag),
        else an empty one."""
        ...

    def object_metas(self, bucket: str, infos: Sequence[ObjectInfo]) -> list[ObjectMeta]:
        """The records of ``infos`` (objects of ``bucket``), in their order, each as
        :meth:`object_meta` would return it: one round trip for a listing page."""
        ...

    def put_object_meta(self, bucket: str, key: str, info: ObjectInfo, meta: ObjectMeta) -> None:
        """Record ``meta`` for the object just written as ``info`` (an empty record only
        removes an older one)."""
        ...

    def drop_object_meta(self, bucket: str, key: str) -> None:
        """Forget the record of ``key`` (no error when there is none)."""
        ...

    def record_bucket(
        self, bucket: str, region: str, created: float, account_id: str | None = None
    ) -> None:
        """Remember that ``bucket`` was created at ``created`` for ``region`` by
        ``account_id`` (replacing an older record of that name)."""
        ...

    def bucket_record(self, bucket: str) -> BucketRecord | None:
        """The creation record of ``bucket``, if it was created through the S3 surface."""
        ...

    def bucket_records(self) -> dict[str, BucketRecord]:
        """Every bucket's creation record, by bucket name."""
        ...

    def drop_bucket_records(self, bucket: str) -> None:
        """Forget the bucket's creation record and the record of every object in it."""
        ...
