"""The small S3 operations many S3 tools call first: GetBucketLocation,
GetBucketVersioning, ListObjectVersions and the object tagging trio, through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.server import LiveServer

from s3.helpers import PATH_STYLE, error_of

# -- GetBucketLocation --------------------------------------------------------------------


def test_location_of_a_bucket_is_the_region_it_was_created_for(s3: Any, bucket: str) -> None:
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "us-west-2"


def test_location_of_a_us_east_1_bucket_is_null(server: LiveServer) -> None:
    east = server.client("s3", region="us-east-1", config=PATH_STYLE)
    east.create_bucket(Bucket="location-us-east-1")
    assert east.get_bucket_location(Bucket="location-us-east-1")["LocationConstraint"] is None


def test_location_of_a_bucket_made_behind_the_surface_is_the_callers_region(
    s3: Any, server: LiveServer
) -> None:
    (server.data_dir / "objects" / "made-on-disk").mkdir(parents=True)
    assert s3.get_bucket_location(Bucket="made-on-disk")["LocationConstraint"] == "us-west-2"


def test_location_of_a_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as raised:
        s3.get_bucket_location(Bucket="no-such-bucket-here")
    assert error_of(raised) == ("NoSuchBucket", 404)


# -- GetBucketVersioning ------------------------------------------------------------------


def test_versioning_of_an_unversioned_bucket_has_no_status(s3: Any, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in answer and "MFADelete" not in answer
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


# -- ListObjectVersions -------------------------------------------------------------------


def test_every_object_is_its_only_version(s3: Any, bucket: str) -> None:
    for key in ("a.txt", "dir/b.txt", "dir/c d+é.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * len(key))
    answer = s3.list_object_versions(Bucket=bucket)
    versions = answer["Versions"]
    assert [v["Key"] for v in versions] == ["a.txt", "dir/b.txt", "dir/c d+é.txt"]
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)
    assert [v["Size"] for v in versions] == [5, 9, 13]
    head = s3.head_object(Bucket=bucket, Key="a.txt")
    assert versions[0]["ETag"] == head["ETag"]
    assert "DeleteMarkers" not in answer and answer["IsTruncated"] is False


def test_versions_with_a_delimiter_roll_up_common_prefixes(s3: Any, bucket: str) -> None:
    for key in ("a", "d/1", "d/2", "e"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    answer = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in answer["Versions"]] == ["a", "e"]
    assert answer["CommonPrefixes"] == [{"Prefix": "d/"}]


def test_versions_page_by_key_markers(s3: Any, bucket: str) -> None:
    keys = [f"k{i:02d}" for i in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    first = s3.list_object_versions(Bucket=bucket, MaxKeys=3)
    assert first["IsTruncated"] is True
    assert (first["NextKeyMarker"], first["NextVersionIdMarker"]) == ("k02", "null")
    second = s3.list_object_versions(
        Bucket=bucket, MaxKeys=3, KeyMarker="k02", VersionIdMarker="null"
    )
    assert [v["Key"] for v in second["Versions"]] == ["k03", "k04", "k05"]
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    listed = [v["Key"] for page in pages for v in page.get("Versions", [])]
    assert listed == keys


def test_a_version_marker_needs_a_key_marker(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert error_of(raised) == ("InvalidArgument", 400)


# -- object tagging -----------------------------------------------------------------------


def tag_set(**tags: str) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def test_put_get_and_delete_object_tags(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"tagged", ContentType="text/x-mine")
    etag = s3.head_object(Bucket=bucket, Key="t.txt")["ETag"]
    assert s3.get_object_tagging(Bucket=bucket, Key="t.txt")["TagSet"] == []

    s3.put_object_tagging(Bucket=bucket, Key="t.txt", Tagging=tag_set(team="qml", stage=""))
    assert s3.get_object_tagging(Bucket=bucket, Key="t.txt")["TagSet"] == [
        {"Key": "team", "Value": "qml"},
        {"Key": "stage", "Value": ""},
    ]
    got = s3.get_object(Bucket=bucket, Key="t.txt")
    assert got["TagCount"] == 2 and got["ETag"] == etag
    assert got["ContentType"] == "text/x-mine" and got["Body"].read() == b"tagged"

    s3.put_object_tagging(Bucket=bucket, Key="t.txt", Tagging=tag_set(only="one"))
    assert s3.get_object_tagging(Bucket=bucket, Key="t.txt")["TagSet"] == [
        {"Key": "only", "Value": "one"}
    ]
    deleted = s3.delete_object_tagging(Bucket=bucket, Key="t.txt")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t.txt")["TagSet"] == []
    assert s3.head_object(Bucket=bucket, Key="t.txt")["ContentType"] == "text/x-mine"


def test_tags_given_at_upload_and_copied(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="up", Body=b"1", Tagging="a=1&b=two%20words")
    assert s3.get_object_tagging(Bucket=bucket, Key="up")["TagSet"] == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "two words"},
    ]
    source = {"Bucket": bucket, "Key": "up"}
    s3.copy_object(Bucket=bucket, Key="copied", CopySource=source)
    assert len(s3.get_object_tagging(Bucket=bucket, Key="copied")["TagSet"]) == 2
    s3.copy_object(
        Bucket=bucket, Key="replaced", CopySource=source, TaggingDirective="REPLACE", Tagging="c=3"
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [
        {"Key": "c", "Value": "3"}
    ]


def test_rewriting_an_object_drops_its_tags(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(a="1"))
    s3.put_object(Bucket=bucket, Key="k", Body=b"22")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


@pytest.mark.parametrize(
    ("tags", "code"),
    [
        ([("aws:team", "x")], "InvalidTag"),
        ([("k" * 129, "x")], "InvalidTag"),
        ([("k", "v" * 257)], "InvalidTag"),
        ([("same", "1"), ("same", "2")], "InvalidTag"),
        ([(f"k{i}", "v") for i in range(11)], "BadRequest"),
    ],
)
def test_tag_sets_s3_refuses(s3: Any, bucket: str, tags: list[tuple[str, str]], code: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    with pytest.raises(ClientError) as raised:
        s3.put_object_tagging(
            Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags]}
        )
    assert error_of(raised) == (code, 400)
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_tagging_a_missing_object_or_version(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.get_object_tagging(Bucket=bucket, Key="absent")
    assert error_of(raised) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as raised:
        s3.put_object_tagging(Bucket=bucket, Key="absent", Tagging=tag_set(a="1"))
    assert error_of(raised) == ("NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="null")["TagSet"] == []
    with pytest.raises(ClientError) as raised:
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ")
    assert error_of(raised) == ("InvalidArgument", 400)
