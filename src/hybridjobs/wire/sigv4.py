"""Read (and, when credentials are configured, verify) AWS Signature Version 4.

The credential scope ``<access key>/<date>/<region>/<service>/aws4_request`` tells which
AWS service a request is for and which region it addressed: one port serves them all.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")
_SIGNATURE = re.compile(r"Signature=([0-9a-f]+)")


@dataclass(frozen=True)
class CredentialScope:
    """The parts of a SigV4 credential scope."""

    access_key: str
    date: str
    region: str
    service: str


def credential_scope(
    headers: dict[str, str], query: dict[str, list[str]]
) -> CredentialScope | None:
    """The scope from the Authorization header or a presigned URL's X-Amz-Credential."""
    authorization = headers.get("authorization", "")
    match = _CREDENTIAL.search(authorization)
    if match is None and "X-Amz-Credential" in query:
        match = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    if match is None:
        return None
    return CredentialScope(*match.groups())


def signature_is_valid(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    scope: CredentialScope,
    secret_key: str,
) -> bool:
    """Whether the Authorization header's signature is the one ``secret_key`` produces.

    botocore computes the expected signature over the same signed headers; the comparison
    is constant-time.
    """
    authorization = headers.get("authorization", "")
    signed = _SIGNED_HEADERS.search(authorization)
    given = _SIGNATURE.search(authorization)
    if signed is None or given is None or "x-amz-date" not in headers:
        return False
    names = signed.group(1).split(";")
    request = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers={name: headers.get(name, "") for name in names},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    # S3 signs the path exactly as sent; every other service signs it normalised.
    signer_class = S3SigV4Auth if scope.service == "s3" else SigV4Auth
    signer = signer_class(Credentials(scope.access_key, secret_key), scope.service, scope.region)
    signer._timestamp = headers["x-amz-date"]
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    return hmac.compare_digest(expected, given.group(1))


def quote_path(path: str) -> str:
    """Percent-encode a decoded path the way SigV4 canonicalization expects."""
    return quote(path, safe="/~")
