"""An object store backed by S3 (or anything that speaks it), through boto3.

boto3 is imported when a store is constructed, never when this module is imported, so the
job bootstrap pays for it only when the job's objects really live in S3. Behaviour matches
:class:`~hybridjobs.objects.local.LocalObjectStore` (same contract tests); botocore errors
become :class:`~hybridjobs.objects.base.ObjectStoreError` subclasses.

Limits: ``copy`` uses one CopyObject call (objects up to 5 GiB); ``put_file`` uses boto3's
managed upload, so large files get S3's multipart ETag (``"…-N"``), not an MD5.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from hybridjobs.objects.base import (
    BucketNotEmpty,
    ByteRange,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStoreError,
    check_byte_range,
)
from hybridjobs.objects.local import atomic_write

_T = TypeVar("_T")
_NOT_FOUND = {"404", "NotFound", "NoSuchKey", "NoSuchBucket"}


class S3ObjectStore:
    """S3 through boto3, path-style addressing when ``endpoint_url`` is given.

    Without ``access_key``/``secret_key`` boto3's default chain applies (environment
    variables, shared files, instance roles); without ``endpoint_url`` boto3 uses
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` when set, else AWS.
    """

    def __init__(
        self,
        endpoint_url: str | None,
        region: str,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        session: Any = None,
    ) -> None:
        """``session``: the ``boto3`` session to make the client from (a long-lived
        process that makes many stores passes one: a new session reloads the service
        model, ~0.1 s); the caller serialises client creation on it."""
        import boto3
        from botocore.config import Config

        self._endpoint_url = endpoint_url
        self._region = region
        addressing = {"addressing_style": "path"} if endpoint_url else {}
        self._client: Any = (session or boto3.session.Session()).client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=Config(s3=addressing, retries={"mode": "standard", "max_attempts": 3}),
        )

    def config(self) -> dict[str, str]:
        """``{"kind": "s3", "region": …, "endpoint_url": …}`` (no credentials)."""
        described = {"kind": "s3", "region": self._region}
        if self._endpoint_url:
            described["endpoint_url"] = self._endpoint_url
        return described

    # -- buckets ---------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        """CreateBucket; an existing bucket we own is fine."""
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self._client.create_bucket(**kwargs)
        except self._client.exceptions.BucketAlreadyOwnedByYou:
            return
        except Exception as exc:
            raise _translate(exc, bucket, "") from exc

    def bucket_exists(self, bucket: str) -> bool:
        """HeadBucket: ``False`` on 404."""
        try:
            self._client.head_bucket(Bucket=bucket)
        except Exception as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise _translate(exc, bucket, "") from exc
        return True

    def list_buckets(self) -> builtins.list[str]:
        """ListBuckets, names sorted."""
        response = self._call(lambda: self._client.list_buckets(), "", "")
        return sorted(item["Name"] for item in response.get("Buckets", []))

    def delete_bucket(self, bucket: str) -> None:
        """DeleteBucket (S3 refuses non-empty buckets: ``BucketNotEmpty``)."""
        self._call(lambda: self._client.delete_bucket(Bucket=bucket), bucket, "")

    # -- objects ---------------------------------------------------------------------

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        """PutObject; creates the bucket if missing."""
        self._with_bucket(
            bucket, lambda: self._client.put_object(Bucket=bucket, Key=key, Body=data), key
        )
        return self.head(bucket, key)

    def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Managed upload (multipart for large files); creates the bucket if missing."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"no such file: {path}")
        if not self.bucket_exists(bucket):  # upload_file hides the error code
            self.create_bucket(bucket)
        self._call(lambda: self._client.upload_file(str(path), bucket, key), bucket, key)
        return self.head(bucket, key)

    def get_bytes(self, bucket: str, key: str, byte_range: ByteRange | None = None) -> bytes:
        """GetObject, with an HTTP ``Range`` when ``byte_range`` is given."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if byte_range is not None:
            check_byte_range(byte_range)
            first, last = byte_range
            kwargs["Range"] = f"bytes={first}-{'' if last is None else last}"
        response = self._call(lambda: self._client.get_object(**kwargs), bucket, key)
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def get_to_file(self, bucket: str, key: str, path: Path) -> None:
        """GetObject streamed into a temporary file, then ``os.replace`` onto ``path``."""
        response = self._call(lambda: self._client.get_object(Bucket=bucket, Key=key), bucket, key)
        body = response["Body"]

        def fill(out: BinaryIO) -> None:
            for chunk in body.iter_chunks(1 << 20):
                out.write(chunk)

        try:
            atomic_write(Path(path), fill)
        finally:
            body.close()

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """HeadObject."""
        response = self._call(lambda: self._client.head_object(Bucket=bucket, Key=key), bucket, key)
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            last_modified=response["LastModified"].timestamp(),
            etag=str(response["ETag"]),
        )

    def delete(self, bucket: str, key: str) -> None:
        """DeleteObject (S3 reports success for a missing key, NoSuchBucket for a bucket)."""
        self._call(lambda: self._client.delete_object(Bucket=bucket, Key=key), bucket, key)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> ObjectInfo:
        """CopyObject; creates the destination bucket if missing."""
        source = {"Bucket": src_bucket, "Key": src_key}
        self.head(src_bucket, src_key)  # precise NoSuchBucket / NoSuchKey for the source
        self._with_bucket(
            dst_bucket,
            lambda: self._client.copy_object(CopySource=source, Bucket=dst_bucket, Key=dst_key),
            dst_key,
        )
        return self.head(dst_bucket, dst_key)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """ListObjectsV2, page by page; the first page is fetched before returning."""
        pages = iter(
            self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        first: dict[str, Any] = self._call(lambda: next(pages, {}), bucket, "")
        return self._items(first, pages)

    # -- internals -------------------------------------------------------------------

    def _items(
        self, first: dict[str, Any], pages: Iterator[dict[str, Any]]
    ) -> Iterator[ObjectInfo]:
        page: dict[str, Any] | None = first
        while page is not None:
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"],
                    size=int(item["Size"]),
                    last_modified=item["LastModified"].timestamp(),
                    etag=str(item["ETag"]),
                )
            page = next(pages, None)

    def _call(self, action: Callable[[], _T], bucket: str, key: str) -> _T:
        """Run one boto3 call, turning its errors into ObjectStoreError subclasses.

        HEAD responses carry no error code, so a bare 404 is NoSuchKey unless the bucket
        itself is missing.
        """
        try:
            return action()
        except ObjectStoreError:
            raise
        except Exception as exc:
            code = _error_code(exc)
            if code is None:
                if type(exc).__name__ == "S3UploadFailedError":
                    raise ObjectStoreError(str(exc)) from exc
                raise
            if code in ("404", "NotFound"):
                if bucket and not self.bucket_exists(bucket):
                    raise NoSuchBucket(f"bucket {bucket!r} does not exist") from exc
                raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}") from exc
            raise _translate(exc, bucket, key) from exc

    def _with_bucket(self, bucket: str, action: Callable[[], _T], key: str) -> _T:
        try:
            return self._call(action, bucket, key)
        except NoSuchBucket:
            self.create_bucket(bucket)
            return self._call(action, bucket, key)


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError``, or None for other exceptions."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _translate(exc: BaseException, bucket: str, key: str) -> ObjectStoreError:
    code = _error_code(exc)
    if code == "NoSuchBucket":
        return NoSuchBucket(f"bucket {bucket!r} does not exist")
    if code == "NoSuchKey":
        return NoSuchKey(f"no object {key!r} in bucket {bucket!r}")
    if code == "InvalidRange":
        return InvalidRange(f"range not satisfiable for {key!r} in bucket {bucket!r}")
    if code == "BucketNotEmpty":
        return BucketNotEmpty(f"bucket {bucket!r} is not empty")
    return ObjectStoreError(f"S3 error {code} on {bucket}/{key}: {exc}")
