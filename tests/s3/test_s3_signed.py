"""S3 against a server that verifies SigV4 signatures (access keys configured).

S3 signs the path as sent (no normalization, no second percent-encoding), unlike the
other services; keys with characters that need encoding show whether the server's
verifier knows that.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, NO_RETRIES, LiveServer

from s3.helpers import PATH_STYLE


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {
        "HYBRIDJOBS_RUN_SCHEDULER": "false",
        "HYBRIDJOBS_WARM_POOL": "false",
        "HYBRIDJOBS_CREDENTIALS": f'{{"{DUMMY_ACCESS_KEY}": "{DUMMY_SECRET_KEY}"}}',
    }


@pytest.fixture(scope="module")
def signed_bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="signed", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return "signed"


def test_plain_keys_verify(s3: Any, signed_bucket: str) -> None:
    s3.put_object(Bucket=signed_bucket, Key="dir/plain.txt", Body=b"x")
    assert s3.get_object(Bucket=signed_bucket, Key="dir/plain.txt")["Body"].read() == b"x"


@pytest.mark.parametrize("key", ["with space", "plus+sign", "unicodé"])
def test_keys_needing_encoding_verify(s3: Any, signed_bucket: str, key: str) -> None:
    s3.put_object(Bucket=signed_bucket, Key=key, Body=b"x")
    assert s3.get_object(Bucket=signed_bucket, Key=key)["Body"].read() == b"x"


def test_wrong_secret_is_refused(server: LiveServer, signed_bucket: str) -> None:
    session = boto3.session.Session(
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key="wrong-secret",
        region_name="us-west-2",
    )
    intruder = session.client("s3", endpoint_url=server.url, config=NO_RETRIES.merge(PATH_STYLE))
    with pytest.raises(ClientError) as raised:
        intruder.list_objects_v2(Bucket=signed_bucket)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
