"""The signature policy with a key ring: a job's ``ASIA…`` key with its session token,
signed by botocore in the header and in a presigned URL, admitted as the job's account
while the job lives, refused (``EXPIRED_TOKEN``) once it has ended."""

from __future__ import annotations

import datetime

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hybridjobs.accounts.jobkeys import JobCredentials, JobKeys
from hybridjobs.accounts.keys import KeyRing, parse_credentials
from hybridjobs.http.authenticate import Authenticator
from hybridjobs.http.head import RequestHead
from hybridjobs.http.refusals import Reason, RequestRefused
from hybridjobs.wire.regions import known_regions

A = "111111111111"
JOB = f"arn:aws:braket:us-west-2:{A}:job/abc"
HOST = "127.0.0.1:8750"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def head_of(request: AWSRequest) -> RequestHead:
    from urllib.parse import urlsplit

    parts = urlsplit(request.url)
    headers = [(b"host", HOST.encode())] + [
        (name.lower().encode(), str(value).encode()) for name, value in request.headers.items()
    ]
    scope = {
        "method": request.method,
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "headers": headers,
    }
    return RequestHead.from_scope(scope)


@pytest.fixture
def live() -> dict[str, bool]:
    return {JOB: True}


@pytest.fixture
def ring(live: dict[str, bool]) -> KeyRing:
    return KeyRing(
        "000000000000",
        parse_credentials({"AKIDA": {"secret": "sa", "account": A}}, "000000000000"),
        JobKeys(b"s" * 32),
        job_is_live=lambda arn: live.get(arn, False),
    )


@pytest.fixture
def issued(ring: KeyRing) -> JobCredentials:
    assert ring.job_keys is not None
    expiry = int(datetime.datetime.now(datetime.UTC).timestamp()) + 3600
    return ring.job_keys.issue(JOB, A, expiry)


def _signed(issued: JobCredentials, presigned: bool) -> RequestHead:
    credentials = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
    request = AWSRequest("GET", f"http://{HOST}/bucket/key")
    if presigned:
        S3SigV4QueryAuth(credentials, "s3", "us-west-2", expires=60).add_auth(request)
    else:
        request.headers["x-amz-content-sha256"] = EMPTY_SHA256
        S3SigV4Auth(credentials, "s3", "us-west-2").add_auth(request)
    return head_of(request)


@pytest.mark.parametrize("presigned", [False, True], ids=["header", "presigned"])
def test_a_live_jobs_key_is_its_account_and_an_ended_ones_is_refused(
    ring: KeyRing, issued: JobCredentials, live: dict[str, bool], presigned: bool
) -> None:
    authenticator = Authenticator(ring, known_regions(["us-west-2"]))
    head = _signed(issued, presigned)
    assert authenticator.admit(head, "s3").account_id == A
    live[JOB] = False
    with pytest.raises(RequestRefused) as refused:
        authenticator.admit(head, "s3")
    assert refused.value.reason is Reason.EXPIRED_TOKEN


def test_a_job_key_with_another_jobs_token_is_unknown(
    ring: KeyRing, issued: JobCredentials
) -> None:
    assert ring.job_keys is not None
    other = ring.job_keys.issue(JOB + "x", A, issued.expiration)
    forged = JobCredentials(
        issued.access_key_id, issued.secret_access_key, other.session_token, issued.expiration
    )
    with pytest.raises(RequestRefused) as refused:
        Authenticator(ring, known_regions(["us-west-2"])).admit(_signed(forged, False), "s3")
    assert refused.value.reason is Reason.UNKNOWN_KEY
