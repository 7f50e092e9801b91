"""Fixtures of the authentication tests: servers with access keys configured."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from support.server import API_TEST_SERVER_ENV, LiveServer

from auth.signing import CREDENTIALS_ENV

KEYED_ENV: dict[str, str] = {**API_TEST_SERVER_ENV, "HYBRIDJOBS_CREDENTIALS": CREDENTIALS_ENV}
"""A server without scheduler that verifies signatures of the one key of ``signing``."""

PATH_STYLE = Config(s3={"addressing_style": "path"})


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return dict(KEYED_ENV)


@pytest.fixture(scope="module")
def s3(server: LiveServer) -> Any:
    """A path-style boto3 ``s3`` client with the server's key."""
    return server.client("s3", config=PATH_STYLE)


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    """A bucket made with a valid signature, for the module's S3 requests."""
    s3.create_bucket(Bucket="auth", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return "auth"
