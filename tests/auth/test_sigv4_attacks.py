"""Forged, replayed and tampered requests against a server with access keys, on every
surface (Braket rest-json, S3 rest-xml, CloudWatch Logs json, STS query).

Each request is signed for real by botocore (at a chosen time, for a chosen region, over a
chosen body) and sent raw, so it can be altered after signing. The same request, signed
properly, is accepted first: a refusal is for the reason under test, not a broken request.
Errors are read with botocore's own parser of each protocol, as a boto3 client sees them.
"""

from __future__ import annotations

import base64
import datetime
import io
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from support.server import LiveServer

from auth.signing import (
    SECRET,
    Call,
    chunk_signed_body,
    error_code,
    seed_of,
    send,
    sign,
    signing_key,
    utc_now,
)

MINUTES = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class Surface:
    """One surface's probe: a request that succeeds when signed, an altered body, and
    the error codes its protocol uses."""

    service: str
    operation: str
    call: Call
    swapped: bytes
    expired: str
    bad_scope: str
    tampered: str
    bad_payload: str
    unknown_key: str
    missing: str
    streaming: str


JSON_CODES = {
    "expired": "InvalidSignatureException",
    "bad_scope": "InvalidSignatureException",
    "tampered": "InvalidSignatureException",
    "bad_payload": "InvalidSignatureException",
    "unknown_key": "UnrecognizedClientException",
    "missing": "MissingAuthenticationTokenException",
    "streaming": "IncompleteSignatureException",
}

SURFACES = {
    "braket": Surface(
        "braket",
        "SearchDevices",
        Call("POST", "/devices", b'{"filters": []}', {"Content-Type": "application/json"}),
        b'{"filters": [], "maxResults": 1}',
        **JSON_CODES,
    ),
    "logs": Surface(
        "logs",
        "DescribeLogGroups",
        Call(
            "POST",
            "/",
            b"{}",
            {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
            },
        ),
        b'{"limit": 1}',
        **JSON_CODES,
    ),
    "sts": Surface(
        "sts",
        "GetCallerIdentity",
        Call(
            "POST",
            "/",
            b"Action=GetCallerIdentity&Version=2011-06-15",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        ),
        b"Action=GetCallerIdentity&Version=2011-06-15&Extra=1",
        expired="SignatureDoesNotMatch",
        bad_scope="SignatureDoesNotMatch",
        tampered="SignatureDoesNotMatch",
        bad_payload="SignatureDoesNotMatch",
        unknown_key="InvalidClientTokenId",
        missing="MissingAuthenticationToken",
        streaming="IncompleteSignature",
    ),
    "s3": Surface(
        "s3",
        "PutObject",
        Call("PUT", "/auth/probe", b"the signed body", {"Content-Type": "text/plain"}),
        b"another body!!!",
        expired="RequestTimeTooSkewed",
        bad_scope="AuthorizationHeaderMalformed",
        tampered="SignatureDoesNotMatch",
        bad_payload="XAmzContentSHA256Mismatch",
        unknown_key="InvalidAccessKeyId",
        missing="AccessDenied",
        streaming="SignatureDoesNotMatch",
    ),
}
NAMES = sorted(SURFACES)


@pytest.fixture(params=NAMES)
def surface(request: pytest.FixtureRequest, bucket: str) -> Surface:
    """Each surface in turn (the S3 probe writes into the module's bucket)."""
    return SURFACES[request.param]


def refused(server: LiveServer, surface: Surface, headers: dict[str, str], body: Any = None) -> str:
    """Send the probe with ``headers`` (and ``body``); the error code it was refused with."""
    response = send(server.port, surface.call, headers, body)
    assert response.status in (400, 403), (response.status, response.body)
    return error_code(surface.service, surface.operation, response)


def test_a_valid_signature_is_accepted(server: LiveServer, surface: Surface) -> None:
    headers = sign(surface.call, server.port, service=surface.service)
    response = send(server.port, surface.call, headers)
    assert response.status == 200, response.body


def test_a_replayed_request_is_refused(server: LiveServer, surface: Surface) -> None:
    an_hour_ago = utc_now() - 60 * MINUTES
    headers = sign(surface.call, server.port, service=surface.service, at=an_hour_ago)
    assert refused(server, surface, headers) == surface.expired


@pytest.mark.parametrize("minutes", [-16, 16])
def test_a_skewed_request_is_refused(server: LiveServer, surface: Surface, minutes: int) -> None:
    skewed = utc_now() + minutes * MINUTES
    headers = sign(surface.call, server.port, service=surface.service, at=skewed)
    assert refused(server, surface, headers) == surface.expired


@pytest.mark.parametrize("minutes", [-14, 14])
def test_a_request_within_the_skew_is_accepted(
    server: LiveServer, surface: Surface, minutes: int
) -> None:
    at = utc_now() + minutes * MINUTES
    headers = sign(surface.call, server.port, service=surface.service, at=at)
    assert send(server.port, surface.call, headers).status == 200


def test_a_made_up_region_is_refused(server: LiveServer, surface: Surface) -> None:
    headers = sign(surface.call, server.port, service=surface.service, region="xx-fake-1")
    assert refused(server, surface, headers) == surface.bad_scope


def test_a_scope_date_other_than_the_signing_date_is_refused(
    server: LiveServer, surface: Surface
) -> None:
    """The credential scope names the day before x-amz-date's."""
    now = utc_now()
    headers = sign(surface.call, server.port, service=surface.service, at=now)
    yesterday = (now - datetime.timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(
        f"/{now:%Y%m%d}/", f"/{yesterday}/", 1
    )
    assert refused(server, surface, headers) == surface.bad_scope


def test_a_swapped_body_is_refused(server: LiveServer, surface: Surface) -> None:
    headers = sign(surface.call, server.port, service=surface.service)
    assert refused(server, surface, headers, surface.swapped) == surface.bad_payload


def test_an_altered_signed_header_is_refused(server: LiveServer, surface: Surface) -> None:
    headers = sign(surface.call, server.port, service=surface.service)
    headers["Content-Type"] = headers["Content-Type"] + "; x=1"
    assert refused(server, surface, headers) == surface.tampered


def test_a_wrong_secret_is_refused(server: LiveServer, surface: Surface) -> None:
    headers = sign(surface.call, server.port, service=surface.service, secret="not-the-secret")
    assert refused(server, surface, headers) == surface.tampered


def test_an_unknown_access_key_is_refused(server: LiveServer, surface: Surface) -> None:
    headers = sign(surface.call, server.port, service=surface.service)
    headers["Authorization"] = headers["Authorization"].replace(
        "Credential=AKIDEXAMPLE/", "Credential=AKIDUNKNOWN/"
    )
    assert refused(server, surface, headers) == surface.unknown_key


def test_an_unsigned_request_is_refused(server: LiveServer, surface: Surface) -> None:
    assert refused(server, surface, dict(surface.call.headers)) == surface.missing


# -- aws-chunked streaming uploads -------------------------------------------------------

PAYLOAD = [b"x" * 70_000, b"y" * 1_000]


def streaming_call(surface: Surface, *, trailer: bool = False) -> Call:
    """The probe as a chunk-signed streaming upload (its body is made once signed)."""
    declared = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {
        **surface.call.headers,
        "Content-Encoding": "aws-chunked",
        "X-Amz-Content-SHA256": declared,
        "X-Amz-Decoded-Content-Length": str(sum(map(len, PAYLOAD))),
    }
    if trailer:
        headers["X-Amz-Trailer"] = "x-amz-checksum-crc32"
    return Call(surface.call.method, surface.call.path, b"", headers)


def chunked(
    server: LiveServer, surface: Surface, *, trailer: str | None = None
) -> tuple[Call, dict[str, str], bytes]:
    """A signed streaming upload of ``PAYLOAD`` (with a signed crc32 trailer when
    ``trailer`` is its value): the call, its headers and its body."""
    call = streaming_call(surface, trailer=trailer is not None)
    headers = sign(call, server.port, service=surface.service, s3_signer=False)
    seed, timestamp, scope = seed_of(headers)
    date, region, service, _ = scope.split("/")
    body = chunk_signed_body(
        PAYLOAD,
        key=signing_key(SECRET, date, region, service),
        timestamp=timestamp,
        scope=scope,
        seed=seed,
        trailers=None if trailer is None else [("x-amz-checksum-crc32", trailer)],
    )
    return call, headers, body


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_a_chunk_signed_upload_is_accepted(server: LiveServer, s3: Any, bucket: str) -> None:
    call, headers, body = chunked(server, SURFACES["s3"])
    response = send(server.port, call, headers, body)
    assert response.status == 200, response.body
    stored = s3.get_object(Bucket="auth", Key="probe")["Body"].read()
    assert stored == b"".join(PAYLOAD)


def test_a_chunk_signed_upload_with_a_signed_trailer_is_accepted(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    call, headers, body = chunked(server, SURFACES["s3"], trailer=crc32(b"".join(PAYLOAD)))
    response = send(server.port, call, headers, body)
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"".join(PAYLOAD)


def test_a_tampered_chunk_is_refused(server: LiveServer, surface: Surface) -> None:
    """On S3 the chunk signature fails; the other surfaces take no streaming payloads."""
    call, headers, body = chunked(server, surface)
    tampered = bytearray(body)
    tampered[tampered.index(b"yyyy") + 10] = ord("z")
    response = send(server.port, call, headers, bytes(tampered))
    assert response.status in (400, 403), response.body
    assert error_code(surface.service, surface.operation, response) == surface.streaming


def test_a_tampered_trailer_is_refused(server: LiveServer, bucket: str) -> None:
    surface = SURFACES["s3"]
    call, headers, body = chunked(server, surface, trailer=crc32(b"".join(PAYLOAD)))
    forged = body.replace(b"x-amz-checksum-crc32:", b"x-amz-checksum-crc32:A", 1)
    response = send(server.port, call, headers, forged)
    assert error_code("s3", "PutObject", response) == "SignatureDoesNotMatch"


def test_a_truncated_chunked_body_is_refused(server: LiveServer, bucket: str) -> None:
    surface = SURFACES["s3"]
    call, headers, body = chunked(server, surface)
    response = send(server.port, call, headers, body[:-40])
    assert error_code("s3", "PutObject", response) == "IncompleteBody"


def test_an_unsigned_trailer_upload_from_botocore_is_accepted(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    """botocore's own aws-chunked encoder (what it sends over HTTPS): unsigned chunks,
    a CRC32 trailer (checked by the S3 surface)."""
    payload = b"".join(PAYLOAD)
    body = AwsChunkedWrapper(
        io.BytesIO(payload), Crc32Checksum, "x-amz-checksum-crc32", chunk_size=8192
    ).read()
    call = Call(
        "PUT",
        "/auth/unsigned-trailer",
        body,
        {
            "Content-Encoding": "aws-chunked",
            "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "X-Amz-Decoded-Content-Length": str(len(payload)),
            "X-Amz-Trailer": "x-amz-checksum-crc32",
        },
    )
    headers = sign(call, server.port, service="s3", s3_signer=False)
    response = send(server.port, call, headers)
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="unsigned-trailer")["Body"].read() == payload
    corrupt = body.replace(b"x" * 100, b"z" * 100, 1)
    response = send(server.port, call, headers, corrupt)
    assert error_code("s3", "PutObject", response) == "BadDigest"


def test_regions_of_every_partition_are_accepted(server: LiveServer) -> None:
    surface = SURFACES["braket"]
    for region in ("us-east-1", "eu-north-1", "cn-north-1", "us-gov-west-1"):
        headers = sign(surface.call, server.port, service="braket", region=region)
        assert send(server.port, surface.call, headers).status == 200, region


def test_s3_needs_the_payload_hash_header(server: LiveServer, bucket: str) -> None:
    surface = SURFACES["s3"]
    headers = sign(surface.call, server.port, service="s3", s3_signer=False)
    response = send(server.port, surface.call, headers)
    assert error_code("s3", "PutObject", response) == "InvalidRequest"


def test_sigv2_headers_are_refused(server: LiveServer, bucket: str) -> None:
    surface = SURFACES["s3"]
    headers = {**surface.call.headers, "Authorization": "AWS AKIDEXAMPLE:c2lnbmF0dXJl"}
    response = send(server.port, surface.call, headers)
    assert error_code("s3", "PutObject", response) == "InvalidRequest"
