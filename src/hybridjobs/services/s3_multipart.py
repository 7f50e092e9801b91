"""S3 multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload and ListParts, staged durably in the object
store by :class:`~hybridjobs.services.s3_staging.MultipartStaging` until completion.

The tag set given to CreateMultipartUpload (``x-amz-tagging``) is checked there and
applies to the completed object. The staging record keeps it among the upload's stored
headers under :data:`_TAGS_HEADER` (URL query syntax), which completion takes out again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hybridjobs.services.s3_backend import S3Backend, check_key
from hybridjobs.services.s3_core import Caller, Reply, S3Error
from hybridjobs.services.s3_http import check_body_digests
from hybridjobs.services.s3_listing import MAX_KEYS
from hybridjobs.services.s3_objects import (
    describe_source,
    meta_from_params,
    parse_copy_source,
    tags_from_header,
)
from hybridjobs.services.s3_staging import Upload
from hybridjobs.store.objectmetabase import ObjectMeta

_COPY_RANGE_PREFIX = "bytes="
# Not a model member name, so it never collides with a standard header kept for the object.
_TAGS_HEADER = "x-hybridjobs-tagging"


def create_multipart_upload(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Start a staged upload; Content-Type, metadata and tags given here apply to the
    object (``InvalidTag``/``BadRequest`` at once for a tag set S3 refuses)."""
    bucket, key = params["Bucket"], params["Key"]
    check_key(key)
    backend.require_bucket(bucket)
    meta = meta_from_params(params, key)
    if meta.tags:
        meta.headers[_TAGS_HEADER] = urlencode(list(meta.tags.items()))
        meta.tags = {}
    upload = backend.staging.create(bucket, key, meta)
    return Reply({"Bucket": bucket, "Key": key, "UploadId": upload.upload_id})


def _upload(backend: S3Backend, params: dict[str, Any]) -> Upload:
    backend.require_bucket(params["Bucket"])
    return backend.staging.get(params["UploadId"], params["Bucket"], params["Key"])


def upload_part(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Stage part 1-10000 of an upload of this bucket and key; answers its MD5 ETag."""
    upload = _upload(backend, params)
    body: bytes = params.get("Body") or b""
    check_body_digests(params, body)
    part = backend.staging.put_part(upload, params["PartNumber"], body)
    return Reply({"ETag": part.etag})


def upload_part_copy(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """A part copied from an existing object, whole or ``x-amz-copy-source-range``."""
    upload = _upload(backend, params)
    source = describe_source(backend, params)
    source_bucket, source_key = parse_copy_source(params["CopySource"])
    byte_range = _copy_range(params.get("CopySourceRange"), source.info.size)
    data = backend.objects.get_bytes(source_bucket, source_key, byte_range)
    part = backend.staging.put_part(upload, params["PartNumber"], data)
    return Reply({"CopyPartResult": {"ETag": part.etag, "LastModified": part.last_modified}})


def _copy_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=first-last`` (both required, within the object) as S3 demands for copies."""
    if header is None:
        return None
    first_text, dash, last_text = header.removeprefix(_COPY_RANGE_PREFIX).partition("-")
    valid = header.startswith(_COPY_RANGE_PREFIX) and dash and first_text.isdigit()
    if not valid or not last_text.isdigit() or int(last_text) < int(first_text):
        raise S3Error(
            "InvalidArgument",
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=header,
        )
    first, last = int(first_text), int(last_text)
    if last >= size:
        raise S3Error(
            "InvalidRange", "The requested range is not satisfiable", RangeRequested=header
        )
    return first, last


def complete_multipart_upload(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Assemble the listed parts into the object; its ETag is the multipart one."""
    bucket, key = params["Bucket"], params["Key"]
    upload = _upload(backend, params)
    listed = (params.get("MultipartUpload") or {}).get("Parts") or []
    wanted: list[tuple[int, str]] = []
    for item in listed:
        if item.get("PartNumber") is None or item.get("ETag") is None:
            raise S3Error("MalformedXML", "Each <Part> needs a <PartNumber> and an <ETag>.")
        wanted.append((int(item["PartNumber"]), str(item["ETag"])))
    headers = dict(upload.meta.headers)
    tagging = headers.pop(_TAGS_HEADER, None)
    with backend.staging.assembled(upload, wanted) as (path, etag):
        meta = ObjectMeta(
            content_type=upload.meta.content_type,
            metadata=dict(upload.meta.metadata),
            headers=headers,
            s3_etag=etag,
            tags=dict(upload.meta.tags) or tags_from_header(tagging),
        )
        backend.put_file(bucket, key, path, meta)
    backend.staging.discard(upload, missing_ok=True)
    return Reply({"Location": f"/{bucket}/{key}", "Bucket": bucket, "Key": key, "ETag": etag})


def abort_multipart_upload(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Drop the upload and its parts (204); ``NoSuchUpload`` when it is not there."""
    upload = _upload(backend, params)
    backend.staging.discard(upload)
    return Reply()


def list_parts(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """The stored parts after ``part-number-marker``, at most ``max-parts`` (1000)."""
    upload = _upload(backend, params)
    marker = int(params.get("PartNumberMarker") or 0)
    limit = min(int(params.get("MaxParts") or MAX_KEYS), MAX_KEYS)
    remaining = [part for part in backend.staging.parts(upload) if part.number > marker]
    shown = remaining[:limit]
    owner = {"ID": caller.account_id, "DisplayName": "hybridjobs"}
    output: dict[str, Any] = {
        "Bucket": upload.bucket,
        "Key": upload.key,
        "UploadId": upload.upload_id,
        "PartNumberMarker": marker,
        "MaxParts": limit,
        "IsTruncated": len(remaining) > limit,
        "Initiator": owner,
        "Owner": owner,
        "StorageClass": "STANDARD",
        "Parts": [
            {
                "PartNumber": part.number,
                "LastModified": part.last_modified,
                "ETag": part.etag,
                "Size": part.size,
            }
            for part in shown
        ],
    }
    if shown:
        output["NextPartNumberMarker"] = shown[-1].number
    return Reply(output)
