"""Signed raw HTTP requests to a live server, for what boto3 cannot show or send: error
bodies of HEAD requests, arbitrary Host headers, pre-encoded header values."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def s3_request(
    port: int,
    method: str,
    path: str,
    *,
    host: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    region: str = "us-west-2",
) -> RawResponse:
    """Send ``method path`` to 127.0.0.1:``port`` with ``Host: host`` (default: the
    server's address), SigV4-signed for S3 so the server routes it to its S3 surface."""
    host = host or f"127.0.0.1:{port}"
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body, headers=headers)
    S3SigV4Auth(Credentials(DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY), "s3", region).add_auth(request)
    target = urlsplit(request.url)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        path_and_query = target.path + (f"?{target.query}" if target.query else "")
        sent = {"Host": host, **dict(request.headers)}
        connection.request(method, path_and_query, body=body, headers=sent)
        response = connection.getresponse()
        return RawResponse(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=response.read(),
        )
    finally:
        connection.close()
