"""Request rates per account and operation: throttling in each protocol's own shape,
which the SDK retries (live servers with small limits; quotas are tested with the
isolation tests' server, test_isolation.py)."""

from __future__ import annotations

from botocore.config import Config
from support.server import ServerFactory

from accounts.conftest import (
    ACCOUNT_A,
    KEY_A,
    KEY_B,
    SECRET_A,
    SECRET_B,
    TWO_ACCOUNTS_ENV,
    client_of,
    error_code,
)


def test_request_rates_are_throttled_per_account_in_each_protocol(
    server_factory: ServerFactory,
) -> None:
    # A burst of 2 requests per operation, refilled far too slowly to matter here.
    server = server_factory(
        env={
            **TWO_ACCOUNTS_ENV,
            "HYBRIDJOBS_REQUEST_RATE_PER_SECOND": "0.001",
            "HYBRIDJOBS_REQUEST_BURST": "2",
        }
    )
    braket_a = client_of(server.url, "braket", KEY_A, SECRET_A)
    braket_a.search_jobs(filters=[])
    braket_a.search_jobs(filters=[])
    assert error_code(lambda: braket_a.search_jobs(filters=[])) == ("ThrottlingException", 429)
    braket_a.search_quantum_tasks(filters=[])  # another operation has its own bucket
    client_of(server.url, "braket", KEY_B, SECRET_B).search_jobs(filters=[])  # another account
    s3 = client_of(server.url, "s3", KEY_A, SECRET_A)
    s3.list_buckets()
    s3.list_buckets()
    assert error_code(s3.list_buckets) == ("SlowDown", 503)
    sts = client_of(server.url, "sts", KEY_A, SECRET_A)
    assert sts.get_caller_identity()["Account"] == ACCOUNT_A
    sts.get_caller_identity()
    assert error_code(sts.get_caller_identity) == ("Throttling", 400)
    logs = client_of(server.url, "logs", KEY_A, SECRET_A)
    logs.describe_log_groups()
    logs.describe_log_groups()
    assert error_code(logs.describe_log_groups) == ("ThrottlingException", 429)


def test_the_sdk_retries_throttled_requests(server_factory: ServerFactory) -> None:
    server = server_factory(
        env={
            **TWO_ACCOUNTS_ENV,
            "HYBRIDJOBS_REQUEST_RATE_PER_SECOND": "20",
            "HYBRIDJOBS_REQUEST_BURST": "1",
        }
    )
    retrying = Config(retries={"mode": "standard", "total_max_attempts": 10})
    braket = client_of(server.url, "braket", KEY_A, SECRET_A, config=retrying)
    answers = [braket.search_jobs(filters=[]) for _ in range(4)]
    retried = sum(a["ResponseMetadata"]["RetryAttempts"] for a in answers)
    assert retried >= 1  # some calls were throttled, and the SDK's retries got through
