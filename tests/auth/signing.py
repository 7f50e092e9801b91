"""Real signatures for raw requests: botocore's own signers at a chosen time, chunk-signed
``aws-chunked`` bodies, raw HTTP sending, and botocore's parsers to read the errors.

Nothing is mocked: requests are signed by botocore's ``SigV4Auth`` / ``S3SigV4Auth`` (run
with a fixed clock instead of "now", so old, skewed and replayed requests can be made) and
sent over a socket with ``http.client``, so they can be tampered with between signing and
sending. The chunk signatures of streaming uploads are computed here independently of the
server's code, following AWS's documentation (botocore has no chunk signer).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore import parsers
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, HeadersDict
from botocore.credentials import Credentials
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

KEY = DUMMY_ACCESS_KEY
SECRET = DUMMY_SECRET_KEY
REGION = "us-west-2"
CREDENTIALS_ENV = json.dumps({KEY: SECRET})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _FixedClock:
    """botocore's ``add_auth`` with the signing time given instead of read from the clock
    (the same steps, in the same order, as ``SigV4Auth.add_auth``)."""

    moment: datetime.datetime

    def add_auth(self, request: AWSRequest) -> None:
        signer: Any = self
        request.context["timestamp"] = self.moment.strftime(SIGV4_TIMESTAMP)
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        signature = signer.signature(string_to_sign, request)
        signer._inject_signature_to_request(request, signature)


class SigV4At(_FixedClock, SigV4Auth):
    def __init__(self, credentials: Credentials, service: str, region: str, moment: Any) -> None:
        super().__init__(credentials, service, region)
        self.moment = moment


class S3SigV4At(_FixedClock, S3SigV4Auth):
    def __init__(self, credentials: Credentials, service: str, region: str, moment: Any) -> None:
        super().__init__(credentials, service, region)
        self.moment = moment


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Call:
    """One request to sign and send: method, path (with query), headers and body."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def sign(
    call: Call,
    port: int,
    *,
    service: str,
    region: str = REGION,
    at: datetime.datetime | None = None,
    secret: str = SECRET,
    s3_signer: bool | None = None,
) -> dict[str, str]:
    """The headers that sign ``call`` for ``service`` at ``at`` (default: now), computed
    by botocore (``S3SigV4Auth`` for S3 unless ``s3_signer`` says otherwise: streaming
    uploads declare their own payload hash, which only ``SigV4Auth`` keeps)."""
    url = f"http://127.0.0.1:{port}{call.path}"
    request = AWSRequest(method=call.method, url=url, data=call.body, headers=dict(call.headers))
    use_s3 = service == "s3" if s3_signer is None else s3_signer
    signer_class = S3SigV4At if use_s3 else SigV4At
    signer = signer_class(Credentials(KEY, secret), service, region, at or utc_now())
    signer.add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def send(port: int, call: Call, headers: dict[str, str], body: bytes | None = None) -> RawResponse:
    """Send ``call`` with ``headers`` (and ``body`` instead of the call's, to tamper) to
    127.0.0.1:``port``."""
    payload = call.body if body is None else body
    sent = {"Host": f"127.0.0.1:{port}", **headers}
    sent.pop("Content-Length", None)
    sent.pop("content-length", None)
    sent["Content-Length"] = str(len(payload))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(call.method, call.path, body=payload, headers=sent)
        response = connection.getresponse()
        return RawResponse(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def error_code(service: str, operation: str, response: RawResponse) -> str:
    """The error code botocore's own parser reads from ``response`` (so the error is in
    the protocol's shape, as a boto3 client sees it)."""
    model = botocore.session.get_session().get_service_model(service)
    parser = parsers.create_parser(model.metadata["protocol"])
    headers = HeadersDict(response.headers)
    parsed = parser.parse(
        {"status_code": response.status, "headers": headers, "body": response.body},
        model.operation_model(operation).output_shape,
    )
    code: str = parsed.get("Error", {}).get("Code", "")
    return code


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def chunk_signed_body(
    chunks: list[bytes],
    *,
    key: bytes,
    timestamp: str,
    scope: str,
    seed: str,
    trailers: list[tuple[str, str]] | None = None,
) -> bytes:
    """An ``aws-chunked`` body of ``chunks`` (a zero-length chunk is added) with chunk
    signatures chained from ``seed``, and a signed trailer when ``trailers`` are given;
    as in AWS's "Signature calculations for the Authorization header: transferring
    payload in multiple chunks" (and "…including trailing headers")."""
    previous = seed
    out = bytearray()
    for data in [*chunks, b""]:
        text = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                timestamp,
                scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            )
        )
        previous = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        out += f"{len(data):x};chunk-signature={previous}\r\n".encode() + data
        if data:
            out += b"\r\n"
    if trailers is not None:
        lines = "".join(f"{name}:{value}\n" for name, value in trailers)
        text = "\n".join(
            (
                "AWS4-HMAC-SHA256-TRAILER",
                timestamp,
                scope,
                previous,
                hashlib.sha256(lines.encode()).hexdigest(),
            )
        )
        signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        for name, value in trailers:
            out += f"{name}:{value}\r\n".encode()
        out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def seed_of(headers: dict[str, str]) -> tuple[str, str, str]:
    """(signature, timestamp, scope line) of a request signed with an Authorization
    header: what a streaming upload's chunk signatures chain from."""
    authorization = headers["Authorization"]
    signature = authorization.rsplit("Signature=", 1)[1]
    credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    scope = credential.split("/", 1)[1]
    return signature, headers["X-Amz-Date"], scope
