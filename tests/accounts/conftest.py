"""Fixtures of the accounts tests: a server with two accounts, and clients of each."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from support.server import API_TEST_SERVER_ENV, NO_RETRIES, LiveServer

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
DEFAULT_ACCOUNT = "000000000000"
KEY_A, SECRET_A = "AKIDACCOUNTA", "secret-of-a"
KEY_B, SECRET_B = "AKIDACCOUNTB", "secret-of-b"
KEY_OLD, SECRET_OLD = "AKIDOLDFORM", "secret-of-old"
ACCOUNT_C, KEY_C, SECRET_C = "333333333333", "AKIDACCOUNTC", "secret-of-c"
ACCOUNT_D, KEY_D, SECRET_D = "444444444444", "AKIDACCOUNTD", "secret-of-d"
REGION = "us-west-2"
PATH_STYLE = Config(s3={"addressing_style": "path"})

TWO_ACCOUNTS = json.dumps(
    {
        KEY_A: {"secret": SECRET_A, "account": ACCOUNT_A},
        KEY_B: {"secret": SECRET_B, "account": ACCOUNT_B},
        KEY_OLD: SECRET_OLD,
        KEY_C: {"secret": SECRET_C, "account": ACCOUNT_C},
        KEY_D: {"secret": SECRET_D, "account": ACCOUNT_D},
    }
)
TWO_ACCOUNTS_ENV: dict[str, str] = {**API_TEST_SERVER_ENV, "HYBRIDJOBS_CREDENTIALS": TWO_ACCOUNTS}

Clients = Callable[..., Any]


def client_of(
    url: str,
    service: str,
    key: str,
    secret: str,
    token: str | None = None,
    config: Config | None = None,
    **kwargs: Any,
) -> Any:
    """A boto3 client for ``service`` at ``url`` signing with ``key``/``secret``
    (and a session token), without retries unless ``config`` says otherwise."""
    session = boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    )
    merged = NO_RETRIES.merge(PATH_STYLE)
    if config is not None:
        merged = merged.merge(config)
    return session.client(service, endpoint_url=url, config=merged, **kwargs)


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return dict(TWO_ACCOUNTS_ENV)


@pytest.fixture(scope="module")
def of_a(server: LiveServer) -> Clients:
    """``of_a("s3")``: a client of account A's key."""
    return lambda service, **kw: client_of(server.url, service, KEY_A, SECRET_A, **kw)


@pytest.fixture(scope="module")
def of_b(server: LiveServer) -> Clients:
    """``of_b("s3")``: a client of account B's key."""
    return lambda service, **kw: client_of(server.url, service, KEY_B, SECRET_B, **kw)


def error_code(call: Callable[[], Any]) -> tuple[str, int]:
    """The AWS error code and HTTP status ``call`` fails with (it must fail)."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")
