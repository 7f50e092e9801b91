"""Presigned URLs from boto3's ``generate_presigned_url`` against a server with keys:
accepted until they expire, refused after, and refused when altered.

boto3 presigns S3 URLs with SigV2 by default (``AWSAccessKeyId``/``Signature``/
``Expires``) and with SigV4 (``X-Amz-*``) when configured for ``s3v4``; both are tested.
Expiry is waited for by polling the URL itself (bounded), not by sleeping it out.
"""

from __future__ import annotations

import http.client
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from support.server import LiveServer

from auth.conftest import PATH_STYLE

EXPIRES_IN = 2
POLL_DEADLINE = EXPIRES_IN + 10.0

SIGNERS = {
    "sigv2-default": PATH_STYLE,
    "sigv4": PATH_STYLE.merge(Config(signature_version="s3v4")),
}


@pytest.fixture(params=sorted(SIGNERS))
def presigner(request: pytest.FixtureRequest, server: LiveServer) -> Any:
    """An S3 client that presigns as boto3 does by default, or with SigV4."""
    return server.client("s3", config=SIGNERS[request.param])


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    """``method url`` as a plain HTTP client sends it (no Content-Type: SigV2 signs the
    Content-Type, and the URLs are presigned without one, as with ``curl -T``)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, f"{parts.path}?{parts.query}", body=data)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def until_refused(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    """Request ``url`` until it is refused (at most ``POLL_DEADLINE`` seconds)."""
    deadline = time.monotonic() + POLL_DEADLINE
    while True:
        status, body = fetch(url, method, data)
        if status != 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.25)  # the URL expires with the clock; there is no event to wait on


def code_of(body: bytes) -> str:
    return body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode()


def test_a_presigned_get_works_until_it_expires(s3: Any, presigner: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared content")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=EXPIRES_IN
    )
    issued = time.monotonic()
    assert fetch(url) == (200, b"shared content")
    status, body = until_refused(url)
    assert time.monotonic() - issued >= EXPIRES_IN - 1.0
    assert (status, code_of(body)) == (403, "AccessDenied")
    assert b"Request has expired" in body


def test_a_presigned_put_works_until_it_expires(s3: Any, presigner: Any, bucket: str) -> None:
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "upload.bin"}, ExpiresIn=EXPIRES_IN
    )
    assert fetch(url, "PUT", b"uploaded")[0] == 200
    assert s3.get_object(Bucket=bucket, Key="upload.bin")["Body"].read() == b"uploaded"
    status, body = until_refused(url, "PUT", b"uploaded")
    assert (status, code_of(body)) == (403, "AccessDenied")
    assert fetch(url, "PUT", b"too late")[0] == 403
    assert s3.get_object(Bucket=bucket, Key="upload.bin")["Body"].read() == b"uploaded"


def test_a_presigned_url_for_another_key_is_refused(s3: Any, presigner: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"not for you")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "public.txt"}, ExpiresIn=60
    )
    status, body = fetch(url.replace("/public.txt?", "/secret.txt?"))
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")


def test_a_presigned_url_with_a_longer_expiry_is_refused(
    s3: Any, presigner: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="brief.txt", Body=b"brief")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "brief.txt"}, ExpiresIn=60
    )
    if "X-Amz-Expires=60" in url:
        forged = url.replace("X-Amz-Expires=60", "X-Amz-Expires=3600")
    else:
        expires = url.split("Expires=", 1)[1].split("&", 1)[0]
        forged = url.replace(f"Expires={expires}", f"Expires={int(expires) + 3600}")
    status, body = fetch(forged)
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")


def test_a_presigned_braket_call_works(server: LiveServer) -> None:
    """SigV4 query authentication is not S3's alone: a presigned GetDevice."""
    braket = server.client("braket")
    arn = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
    url = braket.generate_presigned_url("get_device", Params={"deviceArn": arn}, ExpiresIn=60)
    status, body = fetch(url)
    assert status == 200 and b"SV1" in body
    status, body = fetch(url.replace("sv1", "dm1"))
    assert status == 403 and b"InvalidSignatureException" in body
