"""The S3 calls the Braket SDK makes for a job (spec §3.1 steps 4-6 and §3.8), through
its own ``AwsSession`` pointed at the live server with ``AWS_ENDPOINT_URL_S3``."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LiveServer

BUCKET = "amazon-braket-us-west-2-000000000000"


def test_sdk_bucket_upload_copy_list_download(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from braket.aws import AwsSession

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url)
    boto_session = boto3.Session(
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_SECRET_KEY,
        region_name="us-west-2",
    )
    session = AwsSession(boto_session=boto_session, default_bucket=BUCKET)
    session._create_s3_bucket_if_it_does_not_exist(BUCKET, "us-west-2")
    session._create_s3_bucket_if_it_does_not_exist(BUCKET, "us-west-2")  # already owned: fine

    source = tmp_path / "source.tar.gz"
    source.write_bytes(os.urandom(10 * 1024 * 1024))  # above boto3's multipart threshold
    script = f"s3://{BUCKET}/jobs/j1/100/script/source.tar.gz"
    session.upload_to_s3(str(source), script)
    session.copy_s3_object(script, f"s3://{BUCKET}/jobs/j2/200/script/source.tar.gz")
    session.copy_s3_directory(f"s3://{BUCKET}/jobs/j1/100", f"s3://{BUCKET}/jobs/j3/300")
    assert session.list_keys(BUCKET, "jobs/") == [
        "jobs/j1/100/script/source.tar.gz",
        "jobs/j2/200/script/source.tar.gz",
        "jobs/j3/300/script/source.tar.gz",
    ]
    session.download_from_s3(f"s3://{BUCKET}/jobs/j3/300/script/source.tar.gz", str(tmp_path / "b"))
    assert (tmp_path / "b").read_bytes() == source.read_bytes()
    stored = server.data_dir / "objects" / BUCKET / "jobs" / "j2" / "200" / "script"
    assert (stored / "source.tar.gz").read_bytes() == source.read_bytes()
