"""Objects through a live server and real boto3: put, get (ranges, conditions), head,
copy, delete(s), and where the bytes land (DATA_DIR/objects/BUCKET/KEY)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.server import LiveServer

from s3.helpers import error_of

BODY = bytes(range(256)) * 4  # 1024 bytes


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def test_put_get_head_round_trip(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="dir/data", Body=BODY)
    assert put["ETag"] == md5_etag(BODY)
    got = s3.get_object(Bucket=bucket, Key="dir/data")
    assert got["Body"].read() == BODY
    assert got["ETag"] == md5_etag(BODY)
    assert got["ContentLength"] == len(BODY)
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    head = s3.head_object(Bucket=bucket, Key="dir/data")
    assert head["ContentLength"] == len(BODY)
    assert head["ETag"] == md5_etag(BODY)
    assert head["LastModified"] == got["LastModified"]
    last_modified = head["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
    assert last_modified.endswith(" GMT") and "," in last_modified  # RFC 1123


def test_objects_are_files_under_the_data_dir(s3: Any, bucket: str, server: LiveServer) -> None:
    s3.put_object(Bucket=bucket, Key="jobs/j1/script/source.tar.gz", Body=b"tarball")
    path = server.data_dir / "objects" / bucket / "jobs" / "j1" / "script" / "source.tar.gz"
    assert path.read_bytes() == b"tarball"
    (server.data_dir / "objects" / bucket / "written-directly.txt").write_bytes(b"by a job")
    got = s3.get_object(Bucket=bucket, Key="written-directly.txt")
    assert got["Body"].read() == b"by a job"
    assert got["ContentType"] == "text/plain"  # guessed from the key


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_content_type_and_metadata_are_kept(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket,
        Key="results.json",
        Body=b"{}",
        ContentType="application/vnd.custom+json",
        Metadata={"job": "j-1", "attempt": "2"},
    )
    head = s3.head_object(Bucket=bucket, Key="results.json")
    assert head["ContentType"] == "application/vnd.custom+json"
    assert head["Metadata"] == {"job": "j-1", "attempt": "2"}
    s3.put_object(Bucket=bucket, Key="results.json", Body=b"[]")  # overwrite forgets them
    head = s3.head_object(Bucket=bucket, Key="results.json")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {}


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1020-5000", 1020, 1023),
    ],
)
def test_ranges(s3: Any, bucket: str, header: str, first: int, last: int) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=BODY)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == BODY[first : last + 1]
    assert got["ContentRange"] == f"bytes {first}-{last}/{len(BODY)}"
    assert got["ContentLength"] == last - first + 1


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_is_416(s3: Any, bucket: str, header: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=BODY)
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert error_of(raised) == ("InvalidRange", 416)


def test_unparsable_range_is_ignored(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=BODY)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-1,5-6")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == BODY


def test_conditional_get(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=BODY)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == BODY
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_of(raised) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304


def test_conditional_put(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert error_of(raised) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_content_md5_is_checked(s3: Any, bucket: str) -> None:
    good = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=b"abc", ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"abd").digest()).decode()
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="m", Body=b"abc", ContentMD5=wrong)
    assert error_of(raised) == ("BadDigest", 400)


@pytest.mark.parametrize("key", ["plain", "with space/and+plus", "unicodé/θ→π.txt", "a%2Fb"])
def test_copy_object(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=BODY, Metadata={"k": "v"})
    s3.create_bucket(Bucket=f"{bucket}-dst")
    out = s3.copy_object(
        Bucket=f"{bucket}-dst", Key=f"copied/{key}", CopySource={"Bucket": bucket, "Key": key}
    )
    assert out["CopyObjectResult"]["ETag"] == md5_etag(BODY)
    got = s3.get_object(Bucket=f"{bucket}-dst", Key=f"copied/{key}")
    assert got["Body"].read() == BODY
    assert got["Metadata"] == {"k": "v"}


def test_copy_source_string_forms(s3: Any, bucket: str) -> None:
    """boto3 percent-encodes a string CopySource; a leading ``/`` is allowed."""
    s3.put_object(Bucket=bucket, Key="src key", Body=b"x")
    for source in (f"{bucket}/src key", f"/{bucket}/src key"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source)
        assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"x"


def test_copy_with_replaced_metadata_and_to_itself(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", Metadata={"a": "1"})
    with pytest.raises(ClientError) as raised:
        s3.copy_object(Bucket=bucket, Key="o", CopySource={"Bucket": bucket, "Key": "o"})
    assert error_of(raised) == ("InvalidRequest", 400)
    s3.copy_object(
        Bucket=bucket,
        Key="o",
        CopySource={"Bucket": bucket, "Key": "o"},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/x-new",
    )
    head = s3.head_object(Bucket=bucket, Key="o")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "text/x-new")


def test_copy_of_missing_source(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_of(raised) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as raised:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": "no-such-b", "Key": "k"})
    assert error_of(raised) == ("NoSuchBucket", 404)


def test_delete_object(s3: Any, bucket: str, server: LiveServer) -> None:
    s3.put_object(Bucket=bucket, Key="a/b/c", Body=b"x")
    out = s3.delete_object(Bucket=bucket, Key="a/b/c")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not (server.data_dir / "objects" / bucket / "a").exists()  # empty dirs pruned
    again = s3.delete_object(Bucket=bucket, Key="a/b/c")  # missing key: still 204
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3: Any, bucket: str) -> None:
    for key in ("k1", "k2", "d/k3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    out = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "k1"}, {"Key": "d/k3"}, {"Key": "never-there"}]},
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["d/k3", "k1", "never-there"]
    assert "Errors" not in out
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k2"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_reports_per_key_errors(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x")
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "ok"}, {"Key": "bad/../escape"}]}
    )
    assert [d["Key"] for d in out["Deleted"]] == ["ok"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("bad/../escape", "InvalidArgument")]
