"""The signature policy on its own, with a fixed clock: presigned URLs at the edges of
their validity, malformed claims, and every refusal in every protocol's shape.

Requests are presigned by botocore (``SigV4QueryAuth``, ``S3SigV4QueryAuth``,
``HmacV1QueryAuth``) at a chosen time; the server-side policy runs in-process.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from auth.signing import KEY, SECRET, RawResponse, error_code
from hybridjobs.http.authenticate import Authenticator
from hybridjobs.http.head import RequestHead
from hybridjobs.http.refusals import Reason, RequestRefused, code_and_status, refusal_response
from hybridjobs.wire.regions import known_regions

SIGNED_AT = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
HOST = "127.0.0.1:8750"


class _S3QueryAt(S3SigV4QueryAuth):  # type: ignore[misc]
    """botocore's SigV4 presigner, at ``SIGNED_AT``."""

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = SIGNED_AT.strftime("%Y%m%dT%H%M%SZ")
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, canonical), request)
        self._inject_signature_to_request(request, signature)


class _V2QueryAt(HmacV1QueryAuth):  # type: ignore[misc]
    """botocore's SigV2 presigner, expiring ``expires`` seconds after ``SIGNED_AT``."""

    def _get_date(self) -> str:
        return str(int(SIGNED_AT.timestamp()) + int(self._expires))


def head_of(url: str, method: str = "GET") -> RequestHead:
    parts = urlsplit(url)
    scope = {
        "method": method,
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "headers": [(b"host", HOST.encode())],
    }
    return RequestHead.from_scope(scope)


def presigned_v4(expires: int, path: str = "/bucket/key") -> str:
    request = AWSRequest("GET", f"http://{HOST}{path}")
    _S3QueryAt(Credentials(KEY, SECRET), "s3", "us-west-2", expires=expires).add_auth(request)
    url: str = request.url
    return url


def presigned_v2(expires: int, path: str = "/bucket/key") -> str:
    request = AWSRequest("GET", f"http://{HOST}{path}")
    _V2QueryAt(Credentials(KEY, SECRET), expires=expires).add_auth(request)
    url: str = request.url
    return url


def authenticator(now: datetime.datetime) -> Authenticator:
    return Authenticator({KEY: SECRET}, known_regions(["us-east-1"]), 900.0, clock=lambda: now)


def reason_at(url: str, now: datetime.datetime) -> Reason | None:
    try:
        authenticator(now).admit(head_of(url), "s3")
    except RequestRefused as refused:
        return refused.reason
    return None


SECONDS = datetime.timedelta(seconds=1)


@pytest.mark.parametrize("presign", [presigned_v4, presigned_v2], ids=["sigv4", "sigv2"])
def test_a_presigned_url_is_valid_until_its_expiry(presign: Any) -> None:
    url = presign(60)
    assert reason_at(url, SIGNED_AT) is None
    assert reason_at(url, SIGNED_AT + 59 * SECONDS) is None
    assert reason_at(url, SIGNED_AT + 61 * SECONDS) is Reason.EXPIRED


def test_a_sigv4_presigned_url_is_not_valid_long_before_its_date() -> None:
    url = presigned_v4(60)
    assert reason_at(url, SIGNED_AT - 14 * 60 * SECONDS) is None
    assert reason_at(url, SIGNED_AT - 16 * 60 * SECONDS) is Reason.EXPIRED


def test_presigned_urls_live_at_most_seven_days() -> None:
    week = 7 * 24 * 3600
    assert reason_at(presigned_v4(week), SIGNED_AT) is None
    assert reason_at(presigned_v4(week + 1), SIGNED_AT) is Reason.MALFORMED
    assert reason_at(presigned_v2(week + 60), SIGNED_AT) is Reason.MALFORMED


def test_a_presigned_url_for_another_path_is_refused() -> None:
    url = presigned_v4(60).replace("/bucket/key", "/bucket/other")
    assert reason_at(url, SIGNED_AT) is Reason.SIGNATURE
    url = presigned_v2(60).replace("/bucket/key", "/bucket/other")
    assert reason_at(url, SIGNED_AT) is Reason.SIGNATURE


def test_header_and_query_signatures_together_are_refused() -> None:
    head = head_of(presigned_v4(60))
    head.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=x"
    with pytest.raises(RequestRefused) as raised:
        authenticator(SIGNED_AT).admit(head, "s3")
    assert raised.value.reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250304/us-west-2/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2025/us-west-2/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250304/us-west-2/s3/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250304/us-west-2/s3/aws4_request, "
        "SignedHeaders=host, Signature=XYZ",
        "AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20250304/s3/aws4_request",
    ],
    ids=["no-signature", "bad-date", "host-unsigned", "bad-signature", "sigv4a"],
)
def test_malformed_authorization_headers_are_refused(authorization: str) -> None:
    head = head_of(f"http://{HOST}/bucket/key")
    head.headers["authorization"] = authorization
    head.headers["x-amz-date"] = SIGNED_AT.strftime("%Y%m%dT%H%M%SZ")
    with pytest.raises(RequestRefused) as raised:
        authenticator(SIGNED_AT).admit(head, "s3")
    assert raised.value.reason is Reason.MALFORMED


OPERATIONS = {
    "s3": "PutObject",
    "sts": "GetCallerIdentity",
    "logs": "DescribeLogGroups",
    "braket": "SearchDevices",
}


@pytest.mark.parametrize("reason", list(Reason), ids=lambda reason: reason.name)
@pytest.mark.parametrize("service", sorted(OPERATIONS))
def test_every_refusal_is_in_the_protocols_own_shape(service: str, reason: Reason) -> None:
    refused = RequestRefused(reason, f"refused: {reason.value}", {"Detail": "x"})
    response = refusal_response(service, refused, "request-1", "PUT")
    code, status = code_and_status(service, refused)
    assert response.status == status
    assert 400 <= status < 500 or (service, status) == ("s3", 503)  # S3's SlowDown
    raw = RawResponse(response.status, response.headers, response.body)
    assert error_code(service, OPERATIONS[service], raw) == code
