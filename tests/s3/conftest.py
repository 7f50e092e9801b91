"""Fixtures of the S3 tests: boto3 S3 clients (path-style and virtual-hosted) for the
module's live server, and a fresh bucket per test."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from support.server import LiveServer, aws_client

from s3.helpers import PATH_STYLE, VIRTUAL_STYLE

_bucket_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def s3(server: LiveServer) -> Any:
    """A path-style boto3 ``s3`` client (us-west-2) for the module's server."""
    return server.client("s3", config=PATH_STYLE)


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket named after the test."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40]
    name = f"t{next(_bucket_numbers)}-{stem}".rstrip("-")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return name


@pytest.fixture
def localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve ``*.localhost`` to 127.0.0.1 in this process (RFC 6761 says it should;
    glibc without systemd-resolved does not), so boto3 can use virtual-hosted addressing
    against ``http://localhost:PORT``."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def virtual_s3(server: LiveServer, localhost_subdomains: None) -> Iterator[Any]:
    """A boto3 ``s3`` client with virtual-hosted addressing: requests go to
    ``http://<bucket>.localhost:PORT/<key>``."""
    yield aws_client("s3", f"http://localhost:{server.port}", config=VIRTUAL_STYLE)
