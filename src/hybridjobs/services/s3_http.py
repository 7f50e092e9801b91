"""HTTP details of S3 requests: byte ranges, conditional headers, body integrity and the
``aws-chunked`` content encoding. Pure functions over request values; S3 errors out."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Any

from hybridjobs.services.s3_core import S3Error
from hybridjobs.timestamps import to_datetime

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Span:
    """A satisfiable inclusive byte range of an object of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def parse_range(header: str | None, size: int) -> Span | None:
    """The span an HTTP ``Range`` header asks of an object of ``size`` bytes.

    ``None`` means "the whole object": no header, or one S3 ignores (several ranges,
    other units, unparsable, end before start). ``bytes=a-b``, ``bytes=a-`` and
    ``bytes=-n`` are honoured, the end clipped to the object; a start at or past the end,
    or a suffix of zero bytes, raises S3's ``InvalidRange`` (416).
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    start_text, end_text = match.groups()
    if not start_text and not end_text:
        return None
    if not start_text:
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return Span(max(0, size - suffix), size - 1, size)
    first = int(start_text)
    last = int(end_text) if end_text else size - 1
    if end_text and last < first:
        return None
    if first >= size:
        raise _unsatisfiable(header, size)
    return Span(first, min(last, size - 1), size)


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        "The requested range is not satisfiable",
        RangeRequested=header,
        ActualObjectSize=size,
    )


def check_conditions(
    params: dict[str, Any], etag: str, last_modified: float, *, prefix: str = ""
) -> None:
    """Evaluate ``If-Match``/``If-None-Match``/``If-(Un)Modified-Since`` against an
    object, as S3 does for GET and HEAD (``prefix="CopySource"`` for a copy's source).

    A failed ``If-Match`` or ``If-Unmodified-Since`` raises ``PreconditionFailed`` (412);
    a matching ``If-None-Match`` or an unmet ``If-Modified-Since`` raises ``NotModified``
    (304). Times compare at one-second resolution, like HTTP dates.
    """
    moment = int(last_modified)
    if_match = params.get(f"{prefix}IfMatch")
    if_none_match = params.get(f"{prefix}IfNoneMatch")
    modified_since = params.get(f"{prefix}IfModifiedSince")
    unmodified_since = params.get(f"{prefix}IfUnmodifiedSince")
    if if_match is not None and not etag_matches(if_match, etag):
        raise S3Error(
            "PreconditionFailed", "At least one of the preconditions failed", Condition="If-Match"
        )
    if if_match is None and unmodified_since is not None and moment > _seconds(unmodified_since):
        raise S3Error(
            "PreconditionFailed",
            "At least one of the preconditions failed",
            Condition="If-Unmodified-Since",
        )
    not_modified = S3Error("NotModified", "Not Modified")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            raise not_modified
    elif modified_since is not None and moment <= _seconds(modified_since):
        raise not_modified


def etag_matches(condition: str, etag: str) -> bool:
    """Whether an ``If-Match``-style list (``*`` or quoted/unquoted tags) names ``etag``."""
    wanted = {item.strip().removeprefix("W/").strip('"') for item in condition.split(",")}
    return "*" in wanted or etag.strip('"') in wanted


def _seconds(value: datetime.datetime | float | int) -> int:
    return int(to_datetime(value).timestamp())


_DIGESTS: dict[str, str] = {
    "ContentMD5": "md5",
    "ChecksumSHA1": "sha1",
    "ChecksumSHA256": "sha256",
    "ChecksumCRC32": "crc32",
}


def check_body_digests(params: dict[str, Any], body: bytes) -> None:
    """Verify the body against the digests the client sent (Content-MD5 and the
    ``x-amz-checksum-*`` headers we can compute: CRC32, SHA-1, SHA-256).

    A malformed Content-MD5 raises ``InvalidDigest``; any mismatch raises ``BadDigest``.
    """
    for member, algorithm in _DIGESTS.items():
        expected = params.get(member)
        if not expected:
            continue
        if algorithm == "crc32":
            actual = zlib.crc32(body).to_bytes(4, "big")
        else:
            actual = hashlib.new(algorithm, body, usedforsecurity=False).digest()
        try:
            given = base64.b64decode(expected, validate=True)
        except ValueError:
            raise S3Error("InvalidDigest", f"The {member} you specified was invalid.") from None
        if given != actual:
            raise S3Error(
                "BadDigest",
                f"The {member} you specified did not match what we received.",
            )


def decode_aws_chunked(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]] | None:
    """The payload and trailer headers of an ``aws-chunked`` body, or ``None`` when the
    body is not one.

    The format (SigV4 streaming uploads): ``hex-size[;chunk-signature=…]\\r\\n data
    \\r\\n`` repeated, a zero-size chunk, then optional ``name:value`` trailer lines
    (names lower-cased in the result). Chunk and trailer signatures are not verified. A
    truncated or malformed body raises ``IncompleteBody``.
    """
    encoding = headers.get("content-encoding", "")
    sha = headers.get("x-amz-content-sha256", "")
    if "aws-chunked" not in encoding and not sha.startswith("STREAMING-"):
        return None
    chunks: list[bytes] = []
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise S3Error("IncompleteBody", "The aws-chunked body ended inside a chunk header.")
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise S3Error("IncompleteBody", "The aws-chunked body is malformed.") from None
        start = line_end + 2
        if size == 0:
            position = start
            break
        if start + size + 2 > len(body) or body[start + size : start + size + 2] != b"\r\n":
            raise S3Error("IncompleteBody", "The aws-chunked body ended inside a chunk.")
        chunks.append(body[start : start + size])
        position = start + size + 2
    trailers: dict[str, str] = {}
    for line in body[position:].decode("latin-1").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            trailers[name.strip().lower()] = value.strip()
    payload = b"".join(chunks)
    declared = headers.get("x-amz-decoded-content-length")
    if declared is not None and declared.isdigit() and int(declared) != len(payload):
        raise S3Error(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length header.",
        )
    return payload, trailers


def strip_aws_chunked(content_encoding: str | None) -> str | None:
    """``Content-Encoding`` without the transfer-only ``aws-chunked`` token."""
    if content_encoding is None:
        return None
    kept = [part.strip() for part in content_encoding.split(",")]
    kept = [part for part in kept if part and part != "aws-chunked"]
    return ", ".join(kept) or None
