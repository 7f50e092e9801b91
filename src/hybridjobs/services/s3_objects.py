"""S3 object operations: PutObject, GetObject, HeadObject, CopyObject, DeleteObject,
DeleteObjects and the object tag set (PutObjectTagging, GetObjectTagging,
DeleteObjectTagging; tags live in the object's record). Each handler takes the backend and the parsed parameters (model member
names) and returns a :class:`~hybridjobs.services.s3_core.Reply`."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl, unquote

from hybridjobs.objects import ObjectStoreError
from hybridjobs.services.s3_backend import (
    STORED_HEADERS,
    S3Backend,
    StoredObject,
    guess_content_type,
)
from hybridjobs.services.s3_core import (
    Caller,
    Reply,
    S3Error,
    no_such_key,
    s3_error_from_store,
)
from hybridjobs.services.s3_http import check_body_digests, check_conditions, parse_range
from hybridjobs.store.objectmetabase import ObjectMeta

MAX_DELETE_KEYS = 1000
MAX_OBJECT_TAGS = 10
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256

# GetObject's response-* query overrides: request member -> output member.
_RESPONSE_OVERRIDES = {
    "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseContentType": "ContentType",
    "ResponseExpires": "Expires",
}


def meta_from_params(params: dict[str, Any], key: str) -> ObjectMeta:
    """The record an upload request asks for: a Content-Type other than the one S3 would
    report anyway, user metadata and the standard headers S3 keeps."""
    content_type = params.get("ContentType")
    if content_type == guess_content_type(key):
        content_type = None
    return ObjectMeta(
        content_type=content_type,
        metadata=dict(params.get("Metadata") or {}),
        headers={name: str(params[name]) for name in STORED_HEADERS if params.get(name)},
        tags=tags_from_header(params.get("Tagging")),
    )


def invalid_tag(message: str) -> S3Error:
    return S3Error("InvalidTag", message)


def checked_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """An object tag set as S3 allows it: at most 10 tags, keys of 1 to 128 characters
    that are unique and do not start with ``aws:``, values of at most 256 characters;
    ``InvalidTag`` (``BadRequest`` for too many tags) otherwise."""
    if len(pairs) > MAX_OBJECT_TAGS:
        raise S3Error("BadRequest", f"Object tags cannot be greater than {MAX_OBJECT_TAGS}")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not key:
            raise invalid_tag("The TagKey you have provided is invalid")
        if len(key) > MAX_TAG_KEY_CHARS:
            raise invalid_tag(f"The TagKey you have provided is too long, max {MAX_TAG_KEY_CHARS}")
        if len(value) > MAX_TAG_VALUE_CHARS:
            raise invalid_tag(
                f"The TagValue you have provided is too long, max {MAX_TAG_VALUE_CHARS}"
            )
        if key.lower().startswith("aws:"):
            raise invalid_tag("Your TagKey cannot be prefixed with aws:")
        if key in tags:
            raise invalid_tag("Cannot provide multiple Tags with the same key")
        tags[key] = value
    return tags


def tags_from_header(value: str | None) -> dict[str, str]:
    """The tag set of an ``x-amz-tagging`` header (URL query syntax, ``k1=v1&k2=v2``)."""
    if not value:
        return {}
    return checked_tags(parse_qsl(value, keep_blank_values=True))


def _check_version(params: dict[str, Any]) -> None:
    """Only the ``null`` version exists here (objects are unversioned)."""
    if params.get("VersionId") not in (None, "null"):
        raise S3Error("InvalidArgument", "Invalid version id specified")


def object_headers(stored: StoredObject) -> dict[str, Any]:
    """The output members that describe an object in GET and HEAD answers."""
    output: dict[str, Any] = {
        "ContentLength": stored.info.size,
        "ContentType": stored.content_type,
        "ETag": stored.etag,
        "LastModified": stored.info.last_modified,
        "AcceptRanges": "bytes",
        **stored.meta.headers,
    }
    if stored.meta.metadata:
        output["Metadata"] = stored.meta.metadata
    if stored.meta.tags:
        output["TagCount"] = len(stored.meta.tags)
    if stored.meta.s3_etag:
        output["PartsCount"] = int(stored.meta.s3_etag.strip('"').rpartition("-")[2])
    return output


def put_object(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Store the body (replacing any object); ``NoSuchBucket`` if the bucket is missing,
    ``BadDigest`` if a sent digest does not match, ``PreconditionFailed`` for a failed
    conditional write. Answers the MD5 ETag."""
    bucket, key = params["Bucket"], params["Key"]
    body: bytes = params.get("Body") or b""
    backend.require_bucket(bucket)
    check_body_digests(params, body)
    _check_write_conditions(backend, bucket, key, params)
    stored = backend.put_bytes(bucket, key, body, meta_from_params(params, key))
    return Reply({"ETag": stored.etag, "Size": stored.info.size})


def _check_write_conditions(
    backend: S3Backend, bucket: str, key: str, params: dict[str, Any]
) -> None:
    """Conditional writes: ``If-None-Match: *`` (only if absent), ``If-Match: <etag>``."""
    if params.get("IfNoneMatch") is None and params.get("IfMatch") is None:
        return
    try:
        current: StoredObject | None = backend.describe(bucket, key)
    except ObjectStoreError:
        current = None
    failed = S3Error(
        "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
    )
    if params.get("IfNoneMatch") is not None and current is not None:
        raise failed
    if params.get("IfMatch") is not None:
        if current is None:
            raise no_such_key(key)
        check_conditions({"IfMatch": params["IfMatch"]}, current.etag, current.info.last_modified)


def head_object(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """GetObject's headers without the body (a Range gives 206 and the span's length)."""
    stored = backend.describe(params["Bucket"], params["Key"])
    check_conditions(params, stored.etag, stored.info.last_modified)
    output = object_headers(stored)
    span = parse_range(params.get("Range"), stored.info.size)
    if span is not None:
        output["ContentLength"] = span.last - span.first + 1
        output["ContentRange"] = span.content_range
        return Reply(output, status=206)
    return Reply(output)


def get_object(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """The object (read whole into memory), or 206 with Content-Range for a satisfiable
    Range; conditional headers and ``response-*`` overrides apply."""
    bucket, key = params["Bucket"], params["Key"]
    stored = backend.describe(bucket, key)
    check_conditions(params, stored.etag, stored.info.last_modified)
    output = object_headers(stored)
    for request_member, output_member in _RESPONSE_OVERRIDES.items():
        if params.get(request_member) is not None:
            output[output_member] = params[request_member]
    span = parse_range(params.get("Range"), stored.info.size)
    if span is None:
        output["Body"] = backend.objects.get_bytes(bucket, key)
        output["ContentLength"] = len(output["Body"])
        return Reply(output)
    output["Body"] = backend.objects.get_bytes(bucket, key, (span.first, span.last))
    output["ContentLength"] = len(output["Body"])
    output["ContentRange"] = span.content_range
    return Reply(output, status=206)


def parse_copy_source(value: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``x-amz-copy-source`` header: ``[/]bucket/key`` with the
    key percent-encoded and an optional ``?versionId=…`` (only ``null`` is accepted, as
    this service keeps no versions)."""
    path, _, query = value.partition("?")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    version = query.partition("versionId=")[2] if "versionId=" in query else None
    if version not in (None, "", "null"):
        raise S3Error("InvalidArgument", "This service keeps no object versions.")
    return bucket, key


def describe_source(backend: S3Backend, params: dict[str, Any]) -> StoredObject:
    """The copy source of a CopyObject or UploadPartCopy request, its conditions checked
    (a failed one is ``PreconditionFailed``, as S3 answers for copies)."""
    bucket, key = parse_copy_source(params["CopySource"])
    try:
        stored = backend.describe(bucket, key)
    except ObjectStoreError as error:
        raise s3_error_from_store(error, bucket, key) from error
    try:
        check_conditions(params, stored.etag, stored.info.last_modified, prefix="CopySource")
    except S3Error as error:
        if error.code == "NotModified":
            raise S3Error(
                "PreconditionFailed", "At least one of the preconditions failed"
            ) from None
        raise
    return stored


def copy_object(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Copy ``x-amz-copy-source`` to the target. Metadata is copied unless
    ``x-amz-metadata-directive: REPLACE``; copying an object onto itself needs REPLACE
    (``InvalidRequest`` otherwise). The copy's ETag is the MD5 of its content."""
    bucket, key = params["Bucket"], params["Key"]
    source = describe_source(backend, params)
    source_bucket, source_key = parse_copy_source(params["CopySource"])
    backend.require_bucket(bucket)
    replace = params.get("MetadataDirective", "COPY") == "REPLACE"
    if (source_bucket, source_key) == (bucket, key) and not replace:
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.",
        )
    if replace:
        meta = meta_from_params(params, key)
    else:
        meta = ObjectMeta(
            content_type=source.meta.content_type,
            metadata=dict(source.meta.metadata),
            headers=dict(source.meta.headers),
        )
    if params.get("TaggingDirective", "COPY") == "REPLACE":
        meta.tags = tags_from_header(params.get("Tagging"))
    else:
        meta.tags = dict(source.meta.tags)
    _check_write_conditions(backend, bucket, key, params)
    stored = backend.copy((source_bucket, source_key), (bucket, key), meta)
    result = {"ETag": stored.etag, "LastModified": stored.info.last_modified}
    return Reply({"CopyObjectResult": result})


def delete_object(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Delete one object: 204 whether or not it existed (``NoSuchBucket`` if the bucket
    is missing)."""
    backend.delete(params["Bucket"], params["Key"])
    return Reply()


def delete_objects(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Delete up to 1000 keys; each is reported Deleted (unless Quiet) or as an Error
    entry, and the request itself succeeds."""
    bucket = params["Bucket"]
    request = params.get("Delete") or {}
    objects = request.get("Objects") or []
    if not objects or len(objects) > MAX_DELETE_KEYS:
        raise S3Error(
            "MalformedXML",
            f"The XML you provided was not well-formed or did not validate against our "
            f"published schema (1 to {MAX_DELETE_KEYS} <Object> elements are required)",
        )
    backend.require_bucket(bucket)
    deleted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in objects:
        key = item.get("Key")
        if not key:
            errors.append({"Key": "", "Code": "InvalidArgument", "Message": "Missing key"})
            continue
        try:
            backend.delete(bucket, key)
        except ObjectStoreError as exc:
            error = s3_error_from_store(exc, bucket, key)
            errors.append({"Key": key, "Code": error.code, "Message": error.message})
            continue
        deleted.append({"Key": key})
    output: dict[str, Any] = {}
    if deleted and not request.get("Quiet"):
        output["Deleted"] = deleted
    if errors:
        output["Errors"] = errors
    return Reply(output)


# -- tagging ------------------------------------------------------------------------------


def put_object_tagging(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Replace the object's tag set (kept in its record; the object's bytes,
    ETag and modification time stay as they are)."""
    bucket, key = params["Bucket"], params["Key"]
    _check_version(params)
    stored = backend.describe(bucket, key)
    tag_set = (params.get("Tagging") or {}).get("TagSet") or []
    tags = checked_tags([(tag.get("Key", ""), tag.get("Value", "")) for tag in tag_set])
    backend.set_meta(bucket, stored, dataclasses.replace(stored.meta, tags=tags))
    return Reply()


def get_object_tagging(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """The object's tag set (empty when it has none)."""
    _check_version(params)
    stored = backend.describe(params["Bucket"], params["Key"])
    return Reply({"TagSet": [{"Key": k, "Value": v} for k, v in stored.meta.tags.items()]})


def delete_object_tagging(backend: S3Backend, params: dict[str, Any], caller: Caller) -> Reply:
    """Remove the object's tag set (204, also when it had none)."""
    bucket, key = params["Bucket"], params["Key"]
    _check_version(params)
    stored = backend.describe(bucket, key)
    if stored.meta.tags:
        backend.set_meta(bucket, stored, dataclasses.replace(stored.meta, tags={}))
    return Reply()
