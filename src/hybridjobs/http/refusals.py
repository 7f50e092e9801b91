"""Requests refused at the edge (authentication, size, time), in each protocol's own shape.

A refusal has one :class:`Reason`; the error code and status it is sent with depend on the
protocol family of the service the request was for, as AWS's own services answer: S3's
``<Error><Code>`` document (``RequestTimeTooSkewed``, ``SignatureDoesNotMatch``,
``XAmzContentSHA256Mismatch`` …), the query protocol's ``<ErrorResponse>`` (STS, IAM:
``SignatureDoesNotMatch``, ``InvalidClientTokenId`` …) and JSON's ``__type`` (Braket,
Logs, ECR: ``InvalidSignatureException``, ``UnrecognizedClientException`` …). The full
table is in ``docs/security.md`` ("What a refusal looks like"); the three dictionaries
below are it.
"""

from __future__ import annotations

import enum
import functools
from typing import cast

from botocore.exceptions import UnknownServiceError

from hybridjobs.errors import ServiceError
from hybridjobs.wire import botomodel, jsonrpc, query, restjson, restxml
from hybridjobs.wire.messages import WireResponse


class Reason(enum.Enum):
    """Why a request was refused before its service saw it."""

    MISSING = "missing"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    SCOPE_DATE = "scope date"
    REGION = "region"
    UNKNOWN_KEY = "unknown access key"
    SKEWED = "skewed"
    EXPIRED = "expired"
    SIGNATURE = "signature"
    PAYLOAD_HASH = "payload hash"
    MISSING_PAYLOAD_HASH = "missing payload hash"
    CHUNK_SIGNATURE = "chunk signature"
    CHUNK_FORMAT = "malformed chunks"
    TOO_LARGE = "too large"
    TIMEOUT = "body timeout"
    EXPIRED_TOKEN = "expired session token"
    THROTTLED = "throttled"


class RequestRefused(Exception):
    """A request refused for ``reason``; ``fields`` are extra elements of S3's error
    document; ``presigned`` says the claims were in the query (S3 names those errors
    differently)."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        fields: dict[str, str] | None = None,
        presigned: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.fields = fields or {}
        self.presigned = presigned


_S3: dict[Reason, tuple[str, int]] = {
    Reason.MISSING: ("AccessDenied", 403),
    Reason.MALFORMED: ("AuthorizationHeaderMalformed", 400),
    Reason.UNSUPPORTED: ("InvalidRequest", 400),
    Reason.SCOPE_DATE: ("AuthorizationHeaderMalformed", 400),
    Reason.REGION: ("AuthorizationHeaderMalformed", 400),
    Reason.UNKNOWN_KEY: ("InvalidAccessKeyId", 403),
    Reason.SKEWED: ("RequestTimeTooSkewed", 403),
    Reason.EXPIRED: ("AccessDenied", 403),
    Reason.SIGNATURE: ("SignatureDoesNotMatch", 403),
    Reason.PAYLOAD_HASH: ("XAmzContentSHA256Mismatch", 400),
    Reason.MISSING_PAYLOAD_HASH: ("InvalidRequest", 400),
    Reason.CHUNK_SIGNATURE: ("SignatureDoesNotMatch", 403),
    Reason.CHUNK_FORMAT: ("IncompleteBody", 400),
    Reason.TOO_LARGE: ("EntityTooLarge", 400),
    Reason.TIMEOUT: ("RequestTimeout", 400),
    Reason.EXPIRED_TOKEN: ("ExpiredToken", 400),
    Reason.THROTTLED: ("SlowDown", 503),
}
_S3_QUERY_MALFORMED = "AuthorizationQueryParametersError"

_QUERY: dict[Reason, tuple[str, int]] = {
    Reason.MISSING: ("MissingAuthenticationToken", 403),
    Reason.MALFORMED: ("IncompleteSignature", 400),
    Reason.UNSUPPORTED: ("IncompleteSignature", 400),
    Reason.SCOPE_DATE: ("SignatureDoesNotMatch", 403),
    Reason.REGION: ("SignatureDoesNotMatch", 403),
    Reason.UNKNOWN_KEY: ("InvalidClientTokenId", 403),
    Reason.SKEWED: ("SignatureDoesNotMatch", 403),
    Reason.EXPIRED: ("SignatureDoesNotMatch", 403),
    Reason.SIGNATURE: ("SignatureDoesNotMatch", 403),
    Reason.PAYLOAD_HASH: ("SignatureDoesNotMatch", 403),
    Reason.MISSING_PAYLOAD_HASH: ("IncompleteSignature", 400),
    Reason.CHUNK_SIGNATURE: ("SignatureDoesNotMatch", 403),
    Reason.CHUNK_FORMAT: ("IncompleteSignature", 400),
    Reason.TOO_LARGE: ("RequestEntityTooLarge", 413),
    Reason.TIMEOUT: ("RequestTimeout", 408),
    Reason.EXPIRED_TOKEN: ("ExpiredToken", 403),
    Reason.THROTTLED: ("Throttling", 400),
}

_JSON: dict[Reason, tuple[str, int]] = {
    Reason.MISSING: ("MissingAuthenticationTokenException", 403),
    Reason.MALFORMED: ("IncompleteSignatureException", 400),
    Reason.UNSUPPORTED: ("IncompleteSignatureException", 400),
    Reason.SCOPE_DATE: ("InvalidSignatureException", 403),
    Reason.REGION: ("InvalidSignatureException", 403),
    Reason.UNKNOWN_KEY: ("UnrecognizedClientException", 403),
    Reason.SKEWED: ("InvalidSignatureException", 403),
    Reason.EXPIRED: ("InvalidSignatureException", 403),
    Reason.SIGNATURE: ("InvalidSignatureException", 403),
    Reason.PAYLOAD_HASH: ("InvalidSignatureException", 403),
    Reason.MISSING_PAYLOAD_HASH: ("IncompleteSignatureException", 400),
    Reason.CHUNK_SIGNATURE: ("InvalidSignatureException", 403),
    Reason.CHUNK_FORMAT: ("IncompleteSignatureException", 400),
    Reason.TOO_LARGE: ("RequestEntityTooLargeException", 413),
    Reason.TIMEOUT: ("RequestTimeoutException", 408),
    Reason.EXPIRED_TOKEN: ("ExpiredTokenException", 403),
    Reason.THROTTLED: ("ThrottlingException", 429),
}


def protocol_of(service_name: str) -> str:
    """The botocore protocol of ``service_name``; ``rest-json`` for services botocore does
    not know (unknown paths are answered like Braket's)."""
    try:
        protocol: str = botomodel.service_model(service_name).protocol
    except UnknownServiceError:
        return "rest-json"
    return protocol


def code_and_status(service_name: str, refused: RequestRefused) -> tuple[str, int]:
    """The error code and HTTP status ``refused`` is sent with to ``service_name``."""
    protocol = protocol_of(service_name)
    if protocol == "rest-xml":
        code, status = _S3[refused.reason]
        if refused.presigned and code == "AuthorizationHeaderMalformed":
            code = _S3_QUERY_MALFORMED
        return code, status
    if protocol == "query":
        return _QUERY[refused.reason]
    return _JSON[refused.reason]


@functools.cache
def _error_class(code: str, status: int) -> type[ServiceError]:
    """A :class:`ServiceError` class for an edge error (these are not domain errors, so
    they are not in :mod:`hybridjobs.errors`)."""
    attributes = {"code": code, "status": status, "sender_fault": True}
    return cast(type[ServiceError], type(code, (ServiceError,), attributes))


def refusal_response(
    service_name: str, refused: RequestRefused, request_id: str, method: str
) -> WireResponse:
    """``refused`` as ``service_name``'s protocol sends errors (no body for S3 HEADs)."""
    code, status = code_and_status(service_name, refused)
    protocol = protocol_of(service_name)
    if protocol == "rest-xml":
        return restxml.serialize_error(
            code,
            refused.message,
            status,
            request_id,
            fields=refused.fields,
            with_body=method != "HEAD",
        )
    error = _error_class(code, status)(refused.message)
    if protocol == "query":
        response = query.serialize_error(botomodel.service_model(service_name), error, request_id)
    elif protocol == "json":
        response = jsonrpc.serialize_error(botomodel.service_model(service_name), error, request_id)
    else:
        response = restjson.serialize_error(error, request_id)
    response.status = status
    return response
