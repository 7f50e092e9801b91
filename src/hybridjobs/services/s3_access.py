"""Which account owns a bucket, and who may use it.

A bucket belongs to the account that created it through S3 (recorded with it). A bucket
with no recorded owner (made before accounts were recorded, or written outside S3)
belongs to the account its name embeds when it is a Braket default bucket
(``amazon-braket-<region>-<account>``), else to the default account.

Another account's bucket answers as S3 answers a bucket one may not use: ``AccessDenied``
(403) for every operation on it and on its objects, including as a copy source; it is not
in the caller's ListBuckets. Creating a bucket another account owns is
``BucketAlreadyExists``; creating a Braket default bucket named for another account is
``AccessDenied`` (so nobody can squat on another account's default bucket).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from hybridjobs.services.s3_core import Caller, S3Error
from hybridjobs.store.objectmetabase import BucketRecord, ObjectMetaStore

BRAKET_BUCKET = re.compile(r"^amazon-braket-[a-z0-9-]+-([0-9]{12})$")


def access_denied() -> S3Error:
    return S3Error("AccessDenied", "Access Denied")


def copy_source_bucket(copy_source: str) -> str:
    """The bucket of an ``x-amz-copy-source`` value (``[/]bucket/key[?versionId=…]``)."""
    return unquote(copy_source.lstrip("/").split("/", 1)[0])


@dataclass
class BucketOwners:
    """Decides bucket ownership over the S3 records (see the module doc)."""

    records: ObjectMetaStore
    default_account: str

    def owner_of(self, bucket: str, record: BucketRecord | None) -> str:
        """The account owning ``bucket`` whose creation record is ``record``."""
        if record is not None and record.account_id:
            return record.account_id
        named = BRAKET_BUCKET.match(bucket)
        return named.group(1) if named else self.default_account

    def owner(self, bucket: str) -> str:
        return self.owner_of(bucket, self.records.bucket_record(bucket))

    def check(self, operation: str, params: dict[str, Any], caller: Caller, exists: bool) -> None:
        """Raise S3's error when ``caller`` may not run ``operation`` with ``params`` (whose
        ``Bucket`` exists or not, as ``exists`` says)."""
        bucket = params.get("Bucket")
        if bucket is not None:
            if operation == "CreateBucket":
                self._check_create(bucket, caller, exists)
            elif exists and self.owner(bucket) != caller.account_id:
                raise access_denied()
        source = params.get("CopySource")
        if (
            isinstance(source, str)
            and source
            and self.owner(copy_source_bucket(source)) != caller.account_id
        ):
            raise access_denied()

    def _check_create(self, bucket: str, caller: Caller, exists: bool) -> None:
        if exists:
            if self.owner(bucket) != caller.account_id:
                raise S3Error(
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is "
                    "shared by all users of the system. Please select a different name and "
                    "try again.",
                    BucketName=bucket,
                )
            return
        named = BRAKET_BUCKET.match(bucket)
        if named and named.group(1) != caller.account_id:
            raise access_denied()

    def visible(self, buckets: list[dict[str, Any]], caller: Caller) -> list[dict[str, Any]]:
        """The entries of a ListBuckets answer that ``caller`` owns."""
        records = self.records.bucket_records()
        return [
            entry
            for entry in buckets
            if self.owner_of(entry["Name"], records.get(entry["Name"])) == caller.account_id
        ]
