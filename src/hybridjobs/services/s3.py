"""The S3 surface (rest-xml): addressing, routing and dispatch to the S3 handlers.

Requests are parsed and answered from botocore's ``s3`` model (:mod:`hybridjobs.wire.
restxml`) and served from an :class:`~hybridjobs.objects.ObjectStore`, so with the local
store ``s3://BUCKET/KEY`` is the file ``DATA_DIR/objects/BUCKET/KEY``. What S3 reports
beyond the bytes lives in the service's database and multipart uploads are staged in the
object store (:mod:`hybridjobs.services.s3_backend`): an API process keeps no state of
its own.

Addressing: a request is virtual-hosted when its Host names a bucket, by this rule —
the labels before a label ``s3`` (or ``s3-…``) form the bucket (``b.s3.localhost``,
``b.s3.us-west-2.example.com``), else a Host ending in ``.localhost`` names the bucket
before it (``b.localhost:8750``, what boto3 builds for ``endpoint_url=http://localhost``
with virtual addressing; ``s3.localhost`` is the service itself); any other Host (the service's own address, an IP) is
path-style, ``/BUCKET/KEY``.

Operations that share a method and path in the model are told apart explicitly:
PutObject / CopyObject / UploadPart / UploadPartCopy by ``uploadId`` and
``x-amz-copy-source``; GetObject / ListParts and DeleteObject / AbortMultipartUpload by
``uploadId``; ListObjects / ListObjectsV2 by ``list-type=2`` (a required query value in
the model). Modeled operations we do not serve answer S3's ``NotImplemented`` (501).

Two answers the model cannot describe are written here: GetBucketLocation's document is
one element whose text is the region (``<LocationConstraint>us-west-2</…>``, empty for
us-east-1; botocore parses it by hand), and GetBucketVersioning of a bucket never
versioned is an empty ``<VersioningConfiguration/>``.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from botocore.model import OperationModel, Shape

from hybridjobs.objects import ObjectStore, ObjectStoreError
from hybridjobs.services import s3_buckets, s3_multipart, s3_objects
from hybridjobs.services.s3_access import BucketOwners
from hybridjobs.services.s3_backend import S3Backend
from hybridjobs.services.s3_core import S3_NAMESPACE, Caller, Reply, S3Error, s3_error_from_store
from hybridjobs.services.s3_http import decode_aws_chunked, strip_aws_chunked
from hybridjobs.store.objectmetabase import ObjectMetaStore
from hybridjobs.wire import botomodel, envelope, restxml
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.routing import RestRouter

Handler = Callable[[S3Backend, dict[str, Any], Caller], Reply]

HANDLERS: dict[str, Handler] = {
    "CreateBucket": s3_buckets.create_bucket,
    "HeadBucket": s3_buckets.head_bucket,
    "ListBuckets": s3_buckets.list_buckets,
    "DeleteBucket": s3_buckets.delete_bucket,
    "GetBucketLocation": s3_buckets.get_bucket_location,
    "GetBucketVersioning": s3_buckets.get_bucket_versioning,
    "ListObjectVersions": s3_buckets.list_object_versions,
    "ListObjectsV2": s3_buckets.list_objects_v2,
    "ListObjects": s3_buckets.list_objects,
    "PutObject": s3_objects.put_object,
    "GetObject": s3_objects.get_object,
    "HeadObject": s3_objects.head_object,
    "CopyObject": s3_objects.copy_object,
    "DeleteObject": s3_objects.delete_object,
    "DeleteObjects": s3_objects.delete_objects,
    "PutObjectTagging": s3_objects.put_object_tagging,
    "GetObjectTagging": s3_objects.get_object_tagging,
    "DeleteObjectTagging": s3_objects.delete_object_tagging,
    "CreateMultipartUpload": s3_multipart.create_multipart_upload,
    "UploadPart": s3_multipart.upload_part,
    "UploadPartCopy": s3_multipart.upload_part_copy,
    "CompleteMultipartUpload": s3_multipart.complete_multipart_upload,
    "AbortMultipartUpload": s3_multipart.abort_multipart_upload,
    "ListParts": s3_multipart.list_parts,
}

# Root elements of XML answers; the model does not name them (S3 API reference).
ROOT_ELEMENTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "ListParts": "ListPartsResult",
    "ListObjectVersions": "ListVersionsResult",
    "GetObjectTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
}

# Answers written as one root element with the named output member as its text (or
# empty when that member is absent), not through the model.
_TEXT_DOCUMENTS = {"GetBucketLocation": ("LocationConstraint", "LocationConstraint")}
# Answers that are an empty root element (not an empty body) when no member is set.
_EMPTY_DOCUMENTS = {"GetBucketVersioning"}

_OBJECT_WRITES = {"PutObject", "CopyObject", "UploadPart", "UploadPartCopy"}
_SERVICE_LABEL = re.compile(r"^s3(-.*)?$")


def bucket_from_host(host: str) -> str | None:
    """The bucket a virtual-hosted request names in its Host header, or ``None`` for a
    path-style request (see the module docstring for the rule)."""
    name = host.strip().lower()
    if name.startswith("["):  # IPv6 literal: never a bucket
        return None
    name = name.rsplit(":", 1)[0] if ":" in name else name
    labels = name.split(".")
    for index, label in enumerate(labels[1:], start=1):
        if _SERVICE_LABEL.match(label):
            return ".".join(labels[:index])
    if name.endswith(".localhost") and not _SERVICE_LABEL.match(labels[0]):
        return name[: -len(".localhost")]
    return None


def route_path(request: WireRequest) -> str:
    """The path-style path of ``request``: virtual-hosted requests get their bucket
    prefixed (``Host: b.localhost`` + ``/k`` → ``/b/k``)."""
    bucket = bucket_from_host(request.headers.get("host", ""))
    if bucket is None:
        return request.raw_path or "/"
    path = request.raw_path if request.raw_path not in ("", "/") else ""
    return f"/{bucket}{path}"


def resolve_operation(name: str, request: WireRequest) -> str:
    """The operation among those sharing ``name``'s method and path that ``request`` means."""
    query, headers = request.query, request.headers
    if name in _OBJECT_WRITES:
        copy = "x-amz-copy-source" in headers
        if "uploadId" in query or "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        return "CopyObject" if copy else "PutObject"
    if name in ("GetObject", "ListParts"):
        return "ListParts" if "uploadId" in query else "GetObject"
    if name in ("DeleteObject", "AbortMultipartUpload"):
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if name in ("ListBuckets", "ListDirectoryBuckets"):
        return "ListBuckets"
    return name


class S3Service(envelope.WireCodec[S3Error]):
    """Parses, validates and dispatches S3 requests to the handlers over one backend."""

    signing_name = "s3"
    service_name = "s3"
    error_type = S3Error

    def __init__(
        self, objects: ObjectStore, records: ObjectMetaStore, owners: BucketOwners | None = None
    ) -> None:
        """Serve ``objects``; S3-only records (attributes, tags, bucket regions and
        owners) live in ``records`` (the service's database) and multipart uploads are
        staged in ``objects`` itself. With ``owners``, each account sees and touches only
        its own buckets (:mod:`hybridjobs.services.s3_access`); without, every caller is
        the one user of a single-account service."""
        self.model = botomodel.service_model("s3")
        self.router = RestRouter(self.model)
        self.backend = S3Backend.open(objects, records)
        self.owners = owners

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer one S3 request through the shared envelope; never raises. Errors become
        S3's XML error document (status only for HEAD); unexpected ones are logged and
        answered ``InternalError``."""
        return envelope.serve(self, self._handler, request)

    def _handler(self, name: str) -> envelope.Handler | None:
        """The S3 operation ``name`` as the envelope calls it: access checked first,
        object-store errors turned into S3's."""
        handler = HANDLERS.get(name)
        if handler is None:
            return None

        def run(request: WireRequest, params: dict[str, Any]) -> Reply:
            caller = Caller(request.region, request.account_id)
            try:
                self._check_access(name, params, caller)
                reply = handler(self.backend, params, caller)
                if self.owners is not None and name == "ListBuckets":
                    reply.output["Buckets"] = self.owners.visible(reply.output["Buckets"], caller)
            except ObjectStoreError as error:
                raise s3_error_from_store(
                    error, params.get("Bucket", ""), params.get("Key")
                ) from error
            return reply

        return run

    def _check_access(self, operation: str, params: dict[str, Any], caller: Caller) -> None:
        """S3's ``AccessDenied`` for another account's bucket (see ``s3_access``)."""
        if self.owners is None:
            return
        bucket = params.get("Bucket")
        exists = bucket is not None and self.backend.objects.bucket_exists(bucket)
        self.owners.check(operation, params, caller, exists)

    # -- the envelope's steps (hybridjobs.wire.envelope.WireCodec) -----------------------

    def resolve(self, request: WireRequest) -> envelope.Resolved:
        match = self.router.match(request.method, route_path(request), request.query)
        if match is None:
            raise S3Error(
                "MethodNotAllowed",
                f"The specified method is not allowed against this resource: "
                f"{request.method} {request.raw_path}",
                Method=request.method,
                ResourceType="OBJECT" if request.raw_path.count("/") > 1 else "BUCKET",
            )
        name = resolve_operation(match.operation.name, request)
        return envelope.Resolved(self.model.operation_model(name), match.labels)

    def parse(
        self, operation: OperationModel, request: WireRequest, labels: dict[str, str]
    ) -> dict[str, Any]:
        try:
            params = restxml.parse_request(operation, _decoded(request), labels)
        except restxml.MalformedXmlError as error:
            raise S3Error("MalformedXML", str(error)) from None
        except restxml.InvalidParameterError as error:
            raise S3Error("InvalidArgument", str(error)) from None
        if "ContentEncoding" in params:
            encoding = strip_aws_chunked(params.pop("ContentEncoding"))
            if encoding:
                params["ContentEncoding"] = encoding
        return params

    def enum_values(self, shape: Shape) -> tuple[str, ...]:
        return ()  # S3 stores values outside its enums (storage classes, ACLs) as given

    def not_implemented(self, operation: OperationModel) -> S3Error:
        return S3Error(
            "NotImplemented", f"hybridjobs does not implement the S3 operation {operation.name}."
        )

    def invalid(self, operation: OperationModel, problems: list[str]) -> S3Error:
        # S3 calls a request document that misses required elements malformed.
        payload = operation.input_shape.serialization.get("payload", "\0")
        in_document = all(problem.startswith(f"{payload}.") for problem in problems)
        return S3Error("MalformedXML" if in_document else "InvalidArgument", "; ".join(problems))

    def internal(self, request: WireRequest) -> S3Error:
        return S3Error(
            "InternalError", f"We encountered an internal error; request id {request.request_id}."
        )

    def serialize(
        self, operation: OperationModel, output: Any, request: WireRequest
    ) -> WireResponse:
        return _serialize(operation, output, request.request_id)

    def error(self, error: S3Error, request: WireRequest) -> WireResponse:
        return _error_response(error, request, request.method != "HEAD")


def _serialize(operation: OperationModel, reply: Reply, request_id: str) -> WireResponse:
    """The success answer for ``reply``: from the model, except for the documents the
    model cannot describe (see the module docstring)."""
    name = operation.name
    if name in _TEXT_DOCUMENTS:
        root_name, member = _TEXT_DOCUMENTS[name]
        text = reply.output.get(member)
        return _xml_answer(_root(root_name, None if text is None else str(text)), request_id)
    response = restxml.serialize_response(
        operation,
        reply.output,
        request_id,
        root_name=ROOT_ELEMENTS.get(name),
        namespace=S3_NAMESPACE,
        status=reply.status,
    )
    if name in _EMPTY_DOCUMENTS and not response.body:
        return _xml_answer(_root(ROOT_ELEMENTS[name], None), request_id)
    return response


def _root(name: str, text: str | None) -> ET.Element:
    root = ET.Element(name, xmlns=S3_NAMESPACE)
    root.text = text
    return root


def _xml_answer(root: ET.Element, request_id: str) -> WireResponse:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    headers = {
        "x-amz-request-id": request_id,
        "Content-Type": restxml.XML_CONTENT_TYPE,
        "Content-Length": str(len(body)),
    }
    return WireResponse(status=200, headers=headers, body=body)


def _decoded(request: WireRequest) -> WireRequest:
    """``request`` with an ``aws-chunked`` body decoded and its trailers as headers."""
    decoded = decode_aws_chunked(request.body, request.headers)
    if decoded is None:
        return request
    body, trailers = decoded
    return dataclasses.replace(request, body=body, headers={**request.headers, **trailers})


def _error_response(error: S3Error, request: WireRequest, with_body: bool) -> WireResponse:
    """S3's XML error; HEAD answers and 304 Not Modified carry no body."""
    return restxml.serialize_error(
        error.code,
        error.message,
        error.status,
        request.request_id,
        fields=error.fields,
        with_body=with_body and error.status != 304,
    )
