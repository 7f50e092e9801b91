"""Read AWS Signature Version 4 from a request, and compute the signature it should carry.

The credential scope ``<access key>/<date>/<region>/<service>/aws4_request`` tells which
AWS service a request is for and which region it addressed: one port serves them all.

A request carries SigV4 either in its ``Authorization`` header or, presigned, in its query
(``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-SignedHeaders``, ``X-Amz-Signature``). :func:`read_signature` parses either form;
:func:`expected_signature` has botocore compute the signature over exactly the headers the
client says it signed. Policy (which times, regions and keys are acceptable) lives in
:mod:`hybridjobs.http.authenticate`, not here.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""The longest ``X-Amz-Expires`` SigV4 allows (seven days)."""

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z")
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")


class SigV4Malformed(ValueError):
    """The request carries SigV4 parts that cannot be read (the message says which)."""


@dataclass(frozen=True)
class CredentialScope:
    """The parts of a SigV4 credential scope."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def text(self) -> str:
        """``date/region/service/aws4_request``: the scope line of a string to sign."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class Signature:
    """What a request claims about its SigV4 signature.

    ``timestamp`` is the signing time as sent (``x-amz-date`` or ``X-Amz-Date``,
    ``YYYYMMDDTHHMMSSZ``); ``expires`` is ``X-Amz-Expires`` of a presigned URL (``None``
    for header authentication); ``signed_headers`` are lower-case, in the client's order.
    """

    scope: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    expires: int | None = None

    @property
    def presigned(self) -> bool:
        return self.expires is not None

    @property
    def signed_at(self) -> datetime.datetime:
        """``timestamp`` as an aware UTC datetime (the format is checked when parsed)."""
        return parse_timestamp(self.timestamp)


def credential_scope(
    headers: dict[str, str], query: dict[str, list[str]]
) -> CredentialScope | None:
    """The scope from the Authorization header or a presigned URL's X-Amz-Credential,
    read leniently (for dispatch); ``None`` when there is none."""
    authorization = headers.get("authorization", "")
    match = _CREDENTIAL.search(authorization)
    if match is None and "X-Amz-Credential" in query:
        match = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    if match is None:
        return None
    return CredentialScope(*match.groups())


def read_signature(headers: dict[str, str], query: dict[str, list[str]]) -> Signature | None:
    """The SigV4 claims of a request: ``None`` when it has none; :class:`SigV4Malformed`
    when they are incomplete or malformed, or both forms are present."""
    in_header = headers.get("authorization", "").startswith("AWS4-")
    in_query = any(name in query for name in _QUERY_AUTH)
    if in_header and in_query:
        raise SigV4Malformed("Only one auth mechanism allowed; found both header and query.")
    if in_header:
        return _from_header(headers)
    if in_query:
        return _from_query(query)
    return None


def _from_header(headers: dict[str, str]) -> Signature:
    algorithm, _, rest = headers["authorization"].partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Malformed(f"Unsupported signing algorithm {algorithm!r}; use {ALGORITHM}.")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals:
            raise SigV4Malformed(f"Authorization header component {item.strip()!r} has no '='.")
        parts[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in parts]
    if missing:
        raise SigV4Malformed(f"Authorization header is missing {', '.join(missing)}.")
    timestamp = headers.get("x-amz-date")
    if timestamp is None:
        raise SigV4Malformed("Signed requests need an x-amz-date header.")
    return _signature(parts["Credential"], parts["SignedHeaders"], parts["Signature"], timestamp)


def _from_query(query: dict[str, list[str]]) -> Signature:
    def one(name: str) -> str:
        values = query.get(name)
        if not values:
            raise SigV4Malformed(f"Presigned URL is missing {name}.")
        if len(values) > 1:
            raise SigV4Malformed(f"Presigned URL has more than one {name}.")
        return values[0]

    if one("X-Amz-Algorithm") != ALGORITHM:
        raise SigV4Malformed(f"X-Amz-Algorithm must be {ALGORITHM}.")
    expires_text = one("X-Amz-Expires")
    if not expires_text.isdigit() or not 0 < int(expires_text) <= MAX_PRESIGN_SECONDS:
        raise SigV4Malformed(
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_SECONDS}."
        )
    return _signature(
        one("X-Amz-Credential"),
        one("X-Amz-SignedHeaders"),
        one("X-Amz-Signature"),
        one("X-Amz-Date"),
        int(expires_text),
    )


def _signature(
    credential: str, signed_headers: str, signature: str, timestamp: str, expires: int | None = None
) -> Signature:
    match = _CREDENTIAL.fullmatch("Credential=" + credential)
    if match is None:
        raise SigV4Malformed(
            f"Credential {credential!r} is not <access key>/<YYYYMMDD>/<region>/<service>"
            "/aws4_request."
        )
    names = tuple(name.strip().lower() for name in signed_headers.split(";"))
    if "host" not in names:
        raise SigV4Malformed("The host header must be signed.")
    if _HEX64.match(signature) is None:
        raise SigV4Malformed("The signature must be 64 lower-case hexadecimal digits.")
    parse_timestamp(timestamp)
    return Signature(CredentialScope(*match.groups()), names, signature, timestamp, expires)


def parse_timestamp(text: str) -> datetime.datetime:
    """A SigV4 timestamp (``YYYYMMDDTHHMMSSZ``) as an aware UTC datetime."""
    match = _TIMESTAMP.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        raise SigV4Malformed(
            f"The date {text!r} is not an ISO 8601 basic timestamp (YYYYMMDDTHHMMSSZ)."
        ) from None


class _PinnedHeaders:
    """Mixin: sign exactly the headers the client listed in SignedHeaders, with the values
    received (botocore would otherwise choose its own set)."""

    pinned: HTTPHeaders

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self.pinned


class _Signer(_PinnedHeaders, SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4: the path is normalised and percent-encoded again."""


class _S3Signer(_PinnedHeaders, S3SigV4Auth):  # type: ignore[misc]
    """botocore's S3 SigV4: the path is signed exactly as sent."""


def expected_signature(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    claimed: Signature,
    payload_hash: str,
    secret_key: str,
) -> str:
    """The signature ``secret_key`` gives this request, computed by botocore.

    ``url`` is ``http://<host><path as sent>[?<query as sent>]``, without a presigned
    URL's ``X-Amz-Signature``; ``headers`` are every (lower-case name, value) received, of
    which the ones in ``claimed.signed_headers`` are signed (repeated headers are joined
    by commas, as SigV4 says); ``payload_hash`` is the canonical request's last line.
    """
    pinned = HTTPHeaders()
    wanted = set(claimed.signed_headers)
    for name, value in headers:
        if name in wanted:
            pinned[name] = value
    for name in wanted - set(pinned.keys()):
        pinned[name] = ""
    scope = claimed.scope
    signer_class: Any = _S3Signer if scope.service == "s3" else _Signer
    signer = signer_class(Credentials(scope.access_key, secret_key), scope.service, scope.region)
    signer.pinned = pinned
    request = AWSRequest(method=method, url=url, headers={"X-Amz-Content-SHA256": payload_hash})
    request.context["timestamp"] = claimed.timestamp
    canonical = signer.canonical_request(request)
    string_to_sign: str = signer.string_to_sign(request, canonical)
    # botocore's signer.signature() derives the key again for every request; the derived
    # key only changes daily, so it is cached (the HMAC is the same).
    key = signing_key(secret_key, scope)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures or digests."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))


def signing_key(secret_key: str, scope: CredentialScope) -> bytes:
    """SigV4's derived key ``HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
    "aws4_request")`` (the same as botocore's ``SigV4Auth.signature`` derives)."""
    return _derived_key(secret_key, scope.date, scope.region, scope.service)


@functools.lru_cache(maxsize=1024)
def _derived_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def without_signature(query_string: str) -> str:
    """A raw query string without its ``X-Amz-Signature`` parameter (what was signed)."""
    kept = [pair for pair in query_string.split("&") if not pair.startswith("X-Amz-Signature=")]
    return "&".join(kept)


def quote_path(path: str) -> str:
    """Percent-encode a decoded path the way SigV4 canonicalization expects."""
    return quote(path, safe="/~")
