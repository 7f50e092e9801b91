"""HTTP details of S3 as pure functions: byte ranges, conditional headers, body digests
and the aws-chunked encoding of streaming uploads."""

from __future__ import annotations

import base64
import datetime
import hashlib
import zlib
from typing import Any

import pytest

from hybridjobs.services.s3_core import S3Error, bucket_name_problem
from hybridjobs.services.s3_http import (
    Span,
    check_body_digests,
    check_conditions,
    decode_aws_chunked,
    parse_range,
    strip_aws_chunked,
)

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-0", Span(0, 0, 10)),
        ("bytes=2-5", Span(2, 5, 10)),
        ("bytes=7-", Span(7, 9, 10)),
        ("bytes=-3", Span(7, 9, 10)),
        ("bytes=-30", Span(0, 9, 10)),
        ("bytes=8-100", Span(8, 9, 10)),
        ("bytes=5-2", None),
        ("bytes=0-1,3-4", None),
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, span: Span | None) -> None:
    assert parse_range(header, 10) == span


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(S3Error) as raised:
        parse_range(header, size)
    assert (raised.value.code, raised.value.status) == ("InvalidRange", 416)


def test_content_range_text() -> None:
    assert Span(2, 5, 10).content_range == "bytes 2-5/10"


MODIFIED = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"IfMatch": '"abc"'}, None),
        ({"IfMatch": "abc"}, None),
        ({"IfMatch": '"x", "abc"'}, None),
        ({"IfMatch": "*"}, None),
        ({"IfMatch": '"zzz"'}, "PreconditionFailed"),
        ({"IfNoneMatch": '"abc"'}, "NotModified"),
        ({"IfNoneMatch": '"zzz"'}, None),
        ({"IfModifiedSince": datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)}, "NotModified"),
        ({"IfModifiedSince": datetime.datetime(2023, 1, 1, tzinfo=UTC)}, None),
        ({"IfUnmodifiedSince": datetime.datetime(2023, 1, 1, tzinfo=UTC)}, "PreconditionFailed"),
        ({"IfUnmodifiedSince": datetime.datetime(2025, 1, 1, tzinfo=UTC)}, None),
        (
            {"IfNoneMatch": '"zzz"', "IfModifiedSince": datetime.datetime(2025, 1, 1, tzinfo=UTC)},
            None,
        ),
    ],
)
def test_conditions(params: dict[str, Any], code: str | None) -> None:
    if code is None:
        check_conditions(params, '"abc"', MODIFIED)
        return
    with pytest.raises(S3Error) as raised:
        check_conditions(params, '"abc"', MODIFIED)
    assert raised.value.code == code


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_body_digests() -> None:
    body = b"payload"
    check_body_digests(
        {
            "ContentMD5": b64(hashlib.md5(body).digest()),
            "ChecksumCRC32": b64(zlib.crc32(body).to_bytes(4, "big")),
            "ChecksumSHA256": b64(hashlib.sha256(body).digest()),
            "ChecksumSHA1": b64(hashlib.sha1(body).digest()),
        },
        body,
    )
    with pytest.raises(S3Error) as raised:
        check_body_digests({"ChecksumCRC32": b64(b"\0\0\0\0")}, body)
    assert raised.value.code == "BadDigest"
    with pytest.raises(S3Error) as raised:
        check_body_digests({"ContentMD5": "not base64!"}, body)
    assert raised.value.code == "InvalidDigest"


def test_aws_chunked_with_signatures_and_trailer() -> None:
    body = (
        b"5;chunk-signature=aaaa\r\nhello\r\n"
        b"6;chunk-signature=bbbb\r\n world\r\n"
        b"0;chunk-signature=cccc\r\n"
        b"x-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    )
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "11"}
    assert decode_aws_chunked(body, headers) == (
        b"hello world",
        {"x-amz-checksum-crc32": "DUoRhQ=="},
    )


def test_aws_chunked_detection_and_errors() -> None:
    assert decode_aws_chunked(b"plain", {}) is None
    streaming = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}
    assert decode_aws_chunked(b"3\r\nabc\r\n0\r\n\r\n", streaming) == (b"abc", {})
    for broken in (b"3\r\nab", b"zz\r\nabc\r\n0\r\n", b"3\r\nabc"):
        with pytest.raises(S3Error) as raised:
            decode_aws_chunked(broken, streaming)
        assert raised.value.code == "IncompleteBody"
    with pytest.raises(S3Error):
        decode_aws_chunked(
            b"3\r\nabc\r\n0\r\n\r\n", {**streaming, "x-amz-decoded-content-length": "4"}
        )


def test_strip_aws_chunked() -> None:
    assert strip_aws_chunked("aws-chunked") is None
    assert strip_aws_chunked("aws-chunked, gzip") == "gzip"
    assert strip_aws_chunked(None) is None


@pytest.mark.parametrize(
    "name", ["abc", "my-bucket.v2", "amazon-braket-us-west-2-123456789012", "a" * 63]
)
def test_valid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Caps", "a_b", "-ab", "ab-", "a..b", "10.0.0.1", "xn--ab", "ab-s3alias"],
)
def test_invalid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) is not None
