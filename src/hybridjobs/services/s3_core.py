"""What every S3 handler shares: the S3 error type, the reply value and name rules.

S3 errors are wire facts (codes and statuses as S3 sends them), so they live with the S3
surface rather than in :mod:`hybridjobs.errors`. Object-store errors become S3 errors in
one place, :func:`s3_error_from_store`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.objects import (
    BucketNotEmpty,
    InvalidObjectName,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    ObjectStoreError,
)
from hybridjobs.wire import botomodel

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

# Statuses of the S3 error codes the model does not describe (S3's error-code table).
_STATUS: dict[str, int] = {
    "AccessDenied": 403,
    "BadDigest": 400,
    "BucketAlreadyExists": 409,
    "BucketNotEmpty": 409,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "NotImplemented": 501,
    "NotModified": 304,
    "PreconditionFailed": 412,
}


class S3Error(Exception):
    """An error S3 would send: ``code``, human ``message`` and extra XML ``fields``
    (``Key``, ``BucketName``, ``UploadId`` …). The status comes from botocore's model
    when it describes the code, else from S3's documented table (400 when unknown)."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = {name: str(value) for name, value in fields.items() if value is not None}

    @property
    def status(self) -> int:
        modeled = botomodel.error_status("s3", self.code)
        return modeled if modeled is not None else _STATUS.get(self.code, 400)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", Key=key)


def s3_error_from_store(error: ObjectStoreError, bucket: str, key: str | None) -> S3Error:
    """The S3 error for an object-store error raised while serving ``bucket``/``key``."""
    if isinstance(error, NoSuchBucket):
        return no_such_bucket(bucket)
    if isinstance(error, NoSuchKey):
        return no_such_key(key or "")
    if isinstance(error, BucketNotEmpty):
        return S3Error(
            "BucketNotEmpty", "The bucket you tried to delete is not empty", BucketName=bucket
        )
    if isinstance(error, InvalidRange):
        return S3Error("InvalidRange", "The requested range is not satisfiable")
    if isinstance(error, InvalidObjectName):
        return S3Error("InvalidArgument", f"This service cannot store that name: {error}", Key=key)
    return S3Error("InvalidArgument", f"The object store refused the request: {error}", Key=key)


@dataclass(frozen=True)
class Caller:
    """Who sent a request and where: the region of its credential scope and its account."""

    region: str
    account_id: str


@dataclass
class Reply:
    """A handler's answer: output members (model names), optional status override and
    extra headers that the model does not describe."""

    output: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


_BUCKET_RULE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks S3's general-purpose bucket naming rules, or ``None``.

    Rules: 3 to 63 characters of lower-case letters, digits, dots and hyphens; starts and
    ends with a letter or digit; no ``..``; not an IPv4 address; none of the reserved
    prefixes and suffixes.
    """
    if not _BUCKET_RULE.match(name):
        return (
            "Bucket names must be 3-63 characters of lower-case letters, digits, dots and "
            "hyphens, and begin and end with a letter or digit"
        )
    if ".." in name:
        return "Bucket names must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "Bucket names must not be formatted as an IP address"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "Bucket names must not use a reserved prefix or suffix"
    return None
