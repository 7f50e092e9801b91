"""S3 bucket operations: CreateBucket, HeadBucket, ListBuckets, DeleteBucket,
GetBucketLocation, GetBucketVersioning, and the object listings ListObjectsV2,
ListObjects (v1) and ListObjectVersions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hybridjobs.services.s3_backend import S3Backend
from hybridjobs.services.s3_core import Caller, Reply, S3Error, bucket_name_problem
from hybridjobs.services.s3_listing import (
    Page,
    decode_token,
    encode_token,
    list_page,
    max_keys_param,
    url_encode,
)

STORAGE_CLASS = "STANDARD"
OWNER_NAME = "hybridjobs"
NULL_VERSION = "null"
"""The version id S3 gives every object of a bucket that was never versioned."""
US_EAST_1 = "us-east-1"


def create_bucket(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Create a bucket; one that exists already is ``BucketAlreadyOwnedByYou`` (409), as S3
    answers outside us-east-1 (the Braket SDK ignores that error). Any LocationConstraint
    is accepted and recorded: every bucket lives on this service."""
    bucket = params["Bucket"]
    problem = bucket_name_problem(bucket)
    if problem is not None:
        raise S3Error(
            "InvalidBucketName", f"The specified bucket is not valid. {problem}.", BucketName=bucket
        )
    if backend.objects.bucket_exists(bucket):
        raise S3Error(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            BucketName=bucket,
        )
    configuration = params.get("CreateBucketConfiguration") or {}
    region = configuration.get("LocationConstraint") or caller.region
    backend.create_bucket(bucket, str(region), caller.account_id)
    return Reply({"Location": f"/{bucket}"})


def head_bucket(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """200 with ``x-amz-bucket-region`` when the bucket exists, else 404 (no body)."""
    bucket = params["Bucket"]
    backend.require_bucket(bucket)
    record = backend.bucket_record(bucket)
    return Reply({"BucketRegion": record.region if record else caller.region})


def get_bucket_location(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """The bucket's region as S3 reports it: no LocationConstraint for us-east-1, else
    the region the bucket was created for (the caller's region when it was not created
    through this surface)."""
    bucket = params["Bucket"]
    backend.require_bucket(bucket)
    record = backend.bucket_record(bucket)
    region = record.region if record else caller.region
    return Reply({"LocationConstraint": None if region == US_EAST_1 else region})


def get_bucket_versioning(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Buckets here are never versioned: no Status (S3's answer for a bucket whose
    versioning was never enabled)."""
    backend.require_bucket(params["Bucket"])
    return Reply()


def list_buckets(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Every bucket, in one page (``max-buckets`` and continuation are not needed at the
    sizes this service holds); ``prefix`` and ``bucket-region`` filter."""
    buckets: list[dict[str, Any]] = []
    records = backend.records.bucket_records()
    for name in backend.objects.list_buckets():
        if not name.startswith(params.get("Prefix") or ""):
            continue
        record = records.get(name)
        region = record.region if record else caller.region
        if params.get("BucketRegion") and region != params["BucketRegion"]:
            continue
        created = record.created if record else time.time()
        buckets.append({"Name": name, "CreationDate": created, "BucketRegion": region})
    output: dict[str, Any] = {
        "Buckets": buckets,
        "Owner": {"ID": caller.account_id, "DisplayName": OWNER_NAME},
    }
    if params.get("Prefix"):
        output["Prefix"] = params["Prefix"]
    return Reply(output)


def delete_bucket(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Delete an empty bucket (204); ``BucketNotEmpty`` (409) while it holds objects."""
    bucket = params["Bucket"]
    backend.delete_bucket(bucket)
    return Reply()


def list_objects_v2(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """One page of keys: prefix, delimiter (CommonPrefixes), max-keys (at most 1000),
    start-after and opaque continuation tokens; ``encoding-type=url`` encodes keys."""
    bucket = params["Bucket"]
    prefix = params.get("Prefix") or ""
    token = params.get("ContinuationToken")
    start_after = params.get("StartAfter") or ""
    marker = decode_token(token) if token else start_after
    page = _page(backend, params, marker)
    encode = _encoder(params)
    output: dict[str, Any] = {
        "Name": bucket,
        "Prefix": encode(prefix),
        "MaxKeys": max_keys_param(params.get("MaxKeys")),
        "KeyCount": page.count,
        "IsTruncated": page.truncated,
        **_entries(backend, bucket, page, encode, owner=_owner(params, caller)),
    }
    if params.get("Delimiter"):
        output["Delimiter"] = encode(params["Delimiter"])
    if token:
        output["ContinuationToken"] = token
    if start_after:
        output["StartAfter"] = encode(start_after)
    if page.next_marker is not None:
        output["NextContinuationToken"] = encode_token(page.next_marker)
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    return Reply(output)


def list_objects(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """ListObjects (v1): ``marker`` is a key; ``NextMarker`` is sent only with a
    delimiter, as S3 does (clients otherwise resume after the last key)."""
    bucket = params["Bucket"]
    marker = params.get("Marker") or ""
    page = _page(backend, params, marker)
    encode = _encoder(params)
    owner = {"ID": caller.account_id, "DisplayName": OWNER_NAME}
    output: dict[str, Any] = {
        "Name": bucket,
        "Prefix": encode(params.get("Prefix") or ""),
        "Marker": encode(marker),
        "MaxKeys": max_keys_param(params.get("MaxKeys")),
        "IsTruncated": page.truncated,
        **_entries(backend, bucket, page, encode, owner=owner),
    }
    if params.get("Delimiter"):
        output["Delimiter"] = encode(params["Delimiter"])
        if page.next_marker is not None:
            output["NextMarker"] = encode(page.next_marker)
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    return Reply(output)


def list_object_versions(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Every object as its one version (``VersionId`` ``null``, the latest), no delete
    markers; pages resume after ``key-marker`` (with ``version-id-marker`` ``null`` or
    none: either way after that key's only version)."""
    bucket = params["Bucket"]
    key_marker = params.get("KeyMarker") or ""
    version_marker = params.get("VersionIdMarker")
    if version_marker and not key_marker:
        raise S3Error(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_marker,
        )
    if version_marker not in (None, "", NULL_VERSION):
        raise S3Error(
            "InvalidArgument",
            "Invalid version id specified",
            ArgumentName="version-id-marker",
            ArgumentValue=version_marker,
        )
    page = _page(backend, params, key_marker)
    encode = _encoder(params)
    owner = {"ID": caller.account_id, "DisplayName": OWNER_NAME}
    versions = [
        {
            "ETag": stored.etag,
            "Size": stored.info.size,
            "StorageClass": STORAGE_CLASS,
            "Key": encode(stored.info.key),
            "VersionId": NULL_VERSION,
            "IsLatest": True,
            "LastModified": stored.info.last_modified,
            "Owner": owner,
        }
        for stored in backend.with_meta(bucket, page.objects)
    ]
    output: dict[str, Any] = {
        "Name": bucket,
        "Prefix": encode(params.get("Prefix") or ""),
        "KeyMarker": encode(key_marker),
        "VersionIdMarker": version_marker or "",
        "MaxKeys": max_keys_param(params.get("MaxKeys")),
        "IsTruncated": page.truncated,
    }
    if versions:
        output["Versions"] = versions
    if page.common_prefixes:
        output["CommonPrefixes"] = [{"Prefix": encode(p)} for p in page.common_prefixes]
    if params.get("Delimiter"):
        output["Delimiter"] = encode(params["Delimiter"])
    if page.next_marker is not None:
        output["NextKeyMarker"] = encode(page.next_marker)
        if page.next_marker not in page.common_prefixes:
            output["NextVersionIdMarker"] = NULL_VERSION
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    return Reply(output)


def _page(backend: S3Backend, params: dict[str, Any], marker: str) -> Page:
    bucket = params["Bucket"]
    backend.require_bucket(bucket)
    encoding = params.get("EncodingType")
    if encoding not in (None, "url"):
        raise S3Error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
        )
    prefix = params.get("Prefix") or ""
    return list_page(
        backend.list_objects(bucket, prefix),
        prefix=prefix,
        delimiter=params.get("Delimiter") or "",
        marker=marker,
        max_keys=max_keys_param(params.get("MaxKeys")),
    )


def _owner(params: dict[str, Any], caller: Caller) -> dict[str, str] | None:
    if not params.get("FetchOwner"):
        return None
    return {"ID": caller.account_id, "DisplayName": OWNER_NAME}


Encoder = Callable[[str], str]


def _encoder(params: dict[str, Any]) -> Encoder:
    """How keys and prefixes are written: URL-encoded when ``encoding-type=url``."""
    if params.get("EncodingType") == "url":
        return url_encode
    return str


def _entries(
    backend: S3Backend, bucket: str, page: Page, encode: Encoder, *, owner: dict[str, str] | None
) -> dict[str, Any]:
    contents = []
    for stored in backend.with_meta(bucket, page.objects):
        info = stored.info
        item: dict[str, Any] = {
            "Key": encode(info.key),
            "LastModified": info.last_modified,
            "ETag": stored.etag,
            "Size": info.size,
            "StorageClass": STORAGE_CLASS,
        }
        if owner is not None:
            item["Owner"] = owner
        contents.append(item)
    entries: dict[str, Any] = {}
    if contents:
        entries["Contents"] = contents
    if page.common_prefixes:
        entries["CommonPrefixes"] = [{"Prefix": encode(p)} for p in page.common_prefixes]
    return entries
