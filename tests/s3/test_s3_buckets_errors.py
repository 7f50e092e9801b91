"""Buckets and S3's error answers (codes, statuses, XML bodies, bodiless HEAD errors)
through a live server, boto3 and signed raw HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.server import LiveServer

from s3.helpers import PATH_STYLE, error_of
from s3.rawhttp import s3_request


def test_create_bucket_answers_200_with_location(s3: Any) -> None:
    out = s3.create_bucket(
        Bucket="fresh-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["Location"] == "/fresh-bucket"
    assert "fresh-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_bucket_without_configuration(server: LiveServer) -> None:
    east = server.client("s3", region="us-east-1", config=PATH_STYLE)
    east.create_bucket(Bucket="east-bucket")
    assert east.head_bucket(Bucket="east-bucket")["BucketRegion"] == "us-east-1"


def test_existing_bucket_is_already_owned_by_you(s3: Any, bucket: str) -> None:
    with pytest.raises(s3.exceptions.BucketAlreadyOwnedByYou) as raised:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    assert error_of(raised) == ("BucketAlreadyOwnedByYou", 409)


@pytest.mark.parametrize(
    "name", ["ab", "UPPER-case", "under_score", "-dash-first", "a..b", "192.168.1.1", "x" * 64]
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.create_bucket(Bucket=name)
    assert error_of(raised) == ("InvalidBucketName", 400)


def test_head_bucket(s3: Any, bucket: str) -> None:
    out = s3.head_bucket(Bucket=bucket)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["BucketRegion"] == "us-west-2"
    with pytest.raises(ClientError) as raised:
        s3.head_bucket(Bucket="no-such-bucket-here")
    assert error_of(raised) == ("404", 404)


def test_list_buckets_has_owner_and_dates(s3: Any, bucket: str) -> None:
    out = s3.list_buckets()
    assert out["Owner"]["ID"]
    mine = [b for b in out["Buckets"] if b["Name"] == bucket]
    assert len(mine) == 1 and mine[0]["CreationDate"].year >= 2024


def test_delete_bucket(s3: Any, bucket: str, server: LiveServer) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as raised:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(raised) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k")
    out = s3.delete_bucket(Bucket=bucket)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not (server.data_dir / "objects" / bucket).exists()
    with pytest.raises(ClientError) as raised:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(raised) == ("NoSuchBucket", 404)


def test_missing_bucket_and_key_errors(s3: Any, bucket: str) -> None:
    with pytest.raises(s3.exceptions.NoSuchKey) as raised:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_of(raised) == ("NoSuchKey", 404)
    with pytest.raises(s3.exceptions.NoSuchBucket) as raised_bucket:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_of(raised_bucket) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as raised_head:
        s3.head_object(Bucket=bucket, Key="missing")
    assert error_of(raised_head) == ("404", 404)
    with pytest.raises(ClientError) as raised_list:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error_of(raised_list) == ("NoSuchBucket", 404)


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "a/./b"])
def test_keys_that_are_not_safe_paths_are_invalid_argument(
    s3: Any, bucket: str, server: LiveServer, key: str
) -> None:
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert error_of(raised) == ("InvalidArgument", 400)
    assert not (server.data_dir / "objects" / "escape").exists()
    assert not (server.data_dir / "b").exists()


def test_error_body_is_s3_xml(server: LiveServer, bucket: str) -> None:
    response = s3_request(server.port, "GET", f"/{bucket}/no/such%20key")
    assert response.status == 404
    assert response.headers["content-type"] == "application/xml"
    root = ET.fromstring(response.body)
    assert root.tag == "Error"
    fields = {child.tag: child.text for child in root}
    assert fields["Code"] == "NoSuchKey"
    assert fields["Key"] == "no/such key"
    assert fields["Message"]
    assert fields["RequestId"] == response.headers["x-amz-request-id"]


def test_head_errors_have_no_body(server: LiveServer, bucket: str) -> None:
    for path in (f"/{bucket}/missing", "/no-such-bucket-here"):
        response = s3_request(server.port, "HEAD", path)
        assert response.status == 404
        assert response.body == b""
        assert response.headers["x-amz-request-id"]


def test_invalid_range_error_fields(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    response = s3_request(server.port, "GET", f"/{bucket}/r", headers={"Range": "bytes=10-"})
    assert response.status == 416
    fields = {child.tag: child.text for child in ET.fromstring(response.body)}
    assert (fields["Code"], fields["ActualObjectSize"]) == ("InvalidRange", "10")


def test_unimplemented_operations_are_not_implemented(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(raised) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as raised:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert error_of(raised) == ("NotImplemented", 501)


def test_malformed_xml(server: LiveServer, bucket: str) -> None:
    response = s3_request(
        server.port, "POST", f"/{bucket}?delete", body=b"<Delete><Object><Key>k</Key>"
    )
    assert response.status == 400
    assert b"<Code>MalformedXML</Code>" in response.body
    empty = s3_request(server.port, "POST", f"/{bucket}?delete", body=b"<Delete></Delete>")
    assert (empty.status, b"MalformedXML" in empty.body) == (400, True)


def test_copy_source_header_may_be_pre_encoded_with_leading_slash(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="dir/src key+", Body=b"x")
    response = s3_request(
        server.port,
        "PUT",
        f"/{bucket}/dst",
        headers={"x-amz-copy-source": f"/{bucket}/dir/src%20key%2B"},
    )
    assert response.status == 200, response.body
    assert b"<CopyObjectResult" in response.body and b"<ETag>" in response.body
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"x"
