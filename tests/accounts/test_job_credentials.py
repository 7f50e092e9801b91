"""Each job signs with its own short-lived credentials, in its own account only.

A real job on a server with two accounts: inside, the SDK's default credential chain
finds ``ASIA…`` keys with a session token (never an operator key); with them the job
is its account in STS, reads its own bucket and is denied another account's. Once the
job has ended the same credentials are refused (``ExpiredToken``). Its log streams are
its account's alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs.conftest import JobKit, ServerPool
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

from accounts.conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    KEY_B,
    REGION,
    SECRET_B,
    client_of,
    error_code,
)

BUCKET_B = f"amazon-braket-{REGION}-{ACCOUNT_B}"
WHO_AM_I = f"""
import json, os, pathlib
import boto3
from botocore.exceptions import ClientError

out = {{"identity": boto3.client("sts").get_caller_identity()}}
s3 = boto3.client("s3")
out["own"] = s3.list_objects_v2(Bucket=os.environ["AMZN_BRAKET_OUT_S3_BUCKET"])["KeyCount"]
try:
    s3.list_objects_v2(Bucket="{BUCKET_B}")
    out["other"] = "allowed"
except ClientError as error:
    out["other"] = error.response["Error"]["Code"]
names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
out["credentials"] = {{name: os.environ.get(name) for name in names}}
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "who.json").write_text(
    json.dumps(out, default=str)
)
"""

KEYS = json.dumps(
    {
        DUMMY_ACCESS_KEY: {"secret": DUMMY_SECRET_KEY, "account": ACCOUNT_A},
        KEY_B: {"secret": SECRET_B, "account": ACCOUNT_B},
    }
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """A job-running server whose default account is A (the test bucket's owner) and
    whose test client (the dummy key) is A's; a shared service, so its jobs run in the
    sandbox (the service's default, which ``JOBS_SERVER_ENV`` turns off)."""
    pool = ServerPool(lambda: Path(tmp_path_factory.mktemp("jobs")))
    try:
        yield pool.start(
            env={
                "HYBRIDJOBS_CREDENTIALS": KEYS,
                "HYBRIDJOBS_ACCOUNT_ID": ACCOUNT_A,
                "HYBRIDJOBS_SANDBOX": "auto",
            }
        )
    finally:
        pool.close()


def test_a_job_is_its_account_while_it_runs_and_nothing_after(kit: JobKit) -> None:
    url = kit.server.url
    client_of(url, "s3", KEY_B, SECRET_B).create_bucket(
        Bucket=BUCKET_B, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    job = kit.run_ok(WHO_AM_I)
    who = json.loads(kit.results(job)["who.json"])
    credentials = who["credentials"]
    key, secret, token = (
        credentials["AWS_ACCESS_KEY_ID"],
        credentials["AWS_SECRET_ACCESS_KEY"],
        credentials["AWS_SESSION_TOKEN"],
    )
    assert key.startswith("ASIA") and token
    assert key not in (DUMMY_ACCESS_KEY, KEY_B)
    assert secret not in (DUMMY_SECRET_KEY, SECRET_B)
    assert who["identity"]["Account"] == ACCOUNT_A
    assert who["identity"]["Arn"].startswith(f"arn:aws:sts::{ACCOUNT_A}:assumed-role/")
    assert who["own"] >= 1  # the job's own script is in its bucket
    assert who["other"] == "AccessDenied"
    # The job has ended: its credentials are refused on every surface.
    assert error_code(lambda: client_of(url, "sts", key, secret, token).get_caller_identity()) == (
        "ExpiredToken",
        403,
    )
    s3 = client_of(url, "s3", key, secret, token)
    assert error_code(lambda: s3.list_objects_v2(Bucket="hj-e2e")) == ("ExpiredToken", 400)
    braket = client_of(url, "braket", key, secret, token)
    assert error_code(lambda: braket.get_job(jobArn=job["jobArn"])) == (
        "ExpiredTokenException",
        403,
    )
    # Without its session token the key is nobody's.
    assert error_code(lambda: client_of(url, "sts", key, secret).get_caller_identity()) == (
        "InvalidClientTokenId",
        403,
    )


def test_log_streams_belong_to_the_jobs_account(kit: JobKit) -> None:
    job = kit.run_ok("print('hello from A')")
    prefix = f"{job['jobName']}/{job['jobArn'].rsplit('/', 1)[1]}"
    group = "/aws/braket/jobs"
    mine = kit.server.client("logs").describe_log_streams(
        logGroupName=group, logStreamNamePrefix=prefix
    )["logStreams"]
    assert len(mine) == 1
    logs_b = client_of(kit.server.url, "logs", KEY_B, SECRET_B)
    theirs = logs_b.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)
    assert theirs["logStreams"] == []
    stream = mine[0]["logStreamName"]
    code = error_code(lambda: logs_b.get_log_events(logGroupName=group, logStreamName=stream))
    assert code == ("ResourceNotFoundException", 400)
    logs_a = kit.server.client("logs")
    lines = logs_a.filter_log_events(logGroupName=group, logStreamNamePrefix=prefix)["events"]
    assert any("hello from A" in event["message"] for event in lines)
    assert logs_b.filter_log_events(logGroupName=group, logStreamNamePrefix=prefix)["events"] == []
