"""Key sets S3 holds that are not plain file trees, through a live server and boto3:
``a`` beside ``a/b``, folder markers (``prefix/``), empty segments and segments longer
than a file name. Every one is stored, read, listed and deleted as the S3 key it is, and
ordinary keys stay readable as files under DATA_DIR/objects/BUCKET/KEY."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.server import LiveServer

from s3.helpers import error_of

LONG = "n" * 300
SHAPES = {
    "model": b"model as a file",
    "model/shard0": b"model as a directory",
    "model/shard1/part": b"deeper",
    "photos/": b"",  # an `aws s3` / console folder marker
    "photos/cat.jpg": b"meow",
    "photos//odd": b"after an empty segment",
    "/leading": b"leading slash",
    f"ckpt/{LONG}": b"a 300-byte segment",
    f"ckpt/{LONG}/inner": b"under a 300-byte segment",
    "ckpt/.hybridjobs-self": b"a name the local store reserves",
}


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def put_all(s3: Any, bucket: str, keys: list[str] | None = None) -> None:
    for key in SHAPES if keys is None else keys:
        s3.put_object(Bucket=bucket, Key=key, Body=SHAPES[key])


def all_keys(s3: Any, bucket: str, **params: Any) -> tuple[list[str], list[str]]:
    """Every key and common prefix of a ListObjectsV2 listing, following continuations."""
    keys: list[str] = []
    prefixes: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **params):
        keys += [item["Key"] for item in page.get("Contents", [])]
        prefixes += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
    return keys, prefixes


@pytest.mark.parametrize("order", ["file-first", "directory-first"])
def test_a_key_and_keys_under_it(s3: Any, bucket: str, server: LiveServer, order: str) -> None:
    keys = ["model", "model/shard0", "model/shard1/part"]
    put_all(s3, bucket, keys if order == "file-first" else keys[::-1])
    for key in keys:
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == SHAPES[key]
        assert got["ETag"] == md5_etag(SHAPES[key])
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(SHAPES[key])
    assert all_keys(s3, bucket) == (keys, [])
    root = server.data_dir / "objects" / bucket
    assert (root / "model" / "shard0").read_bytes() == SHAPES["model/shard0"]
    s3.delete_object(Bucket=bucket, Key="model/shard0")
    s3.delete_object(Bucket=bucket, Key="model/shard1/part")
    assert all_keys(s3, bucket) == (["model"], [])
    assert (root / "model").read_bytes() == SHAPES["model"]  # a plain file again


def test_metadata_survives_a_key_becoming_a_directory(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", ContentType="text/csv", Metadata={"step": "7"})
    s3.put_object(Bucket=bucket, Key="m/under", Body=b"y")
    head = s3.head_object(Bucket=bucket, Key="m")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"step": "7"})
    s3.delete_object(Bucket=bucket, Key="m/under")
    head = s3.head_object(Bucket=bucket, Key="m")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"step": "7"})


def test_folder_markers_like_aws_s3(s3: Any, bucket: str, server: LiveServer) -> None:
    s3.put_object(Bucket=bucket, Key="photos/", Body=b"")
    assert all_keys(s3, bucket, Delimiter="/") == ([], ["photos/"])
    assert all_keys(s3, bucket, Prefix="photos/", Delimiter="/") == (["photos/"], [])
    s3.put_object(Bucket=bucket, Key="photos/cat.jpg", Body=b"meow")
    assert all_keys(s3, bucket, Prefix="photos/", Delimiter="/") == (
        ["photos/", "photos/cat.jpg"],
        [],
    )
    assert s3.head_object(Bucket=bucket, Key="photos/")["ContentLength"] == 0
    assert (server.data_dir / "objects" / bucket / "photos" / "cat.jpg").read_bytes() == b"meow"
    s3.delete_object(Bucket=bucket, Key="photos/")
    assert all_keys(s3, bucket) == (["photos/cat.jpg"], [])
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=bucket, Key="photos/")
    assert error_of(raised) == ("404", 404)


def test_every_shape_lists_with_prefixes_delimiters_and_pages(s3: Any, bucket: str) -> None:
    put_all(s3, bucket)
    keys = sorted(SHAPES)
    assert all_keys(s3, bucket) == (keys, [])
    assert all_keys(s3, bucket, PaginationConfig={"PageSize": 2}) == (keys, [])
    assert all_keys(s3, bucket, Delimiter="/") == (["model"], ["/", "ckpt/", "model/", "photos/"])
    assert all_keys(s3, bucket, Prefix="model/", Delimiter="/") == (
        ["model/shard0"],
        ["model/shard1/"],
    )
    assert all_keys(
        s3, bucket, Prefix="photos/", Delimiter="/", PaginationConfig={"PageSize": 1}
    ) == (
        ["photos/", "photos/cat.jpg"],
        ["photos//"],
    )
    assert all_keys(s3, bucket, Prefix="ckpt/", Delimiter="/") == (
        ["ckpt/.hybridjobs-self", f"ckpt/{LONG}"],
        [f"ckpt/{LONG}/"],
    )
    assert all_keys(s3, bucket, Prefix=f"ckpt/{LONG[:200]}") == (
        [f"ckpt/{LONG}", f"ckpt/{LONG}/inner"],
        [],
    )
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=3)
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["/", "ckpt/"]
    assert [c["Key"] for c in v1["Contents"]] == ["model"] and v1["IsTruncated"]


def test_long_segments_are_stored_not_500(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, [f"ckpt/{LONG}", f"ckpt/{LONG}/inner"])
    got = s3.get_object(Bucket=bucket, Key=f"ckpt/{LONG}", Range="bytes=2-5")
    assert got["Body"].read() == SHAPES[f"ckpt/{LONG}"][2:6]
    wide = "ü" * 200  # 400 bytes of UTF-8
    s3.put_object(Bucket=bucket, Key=f"{wide}/x", Body=b"wide")
    assert s3.get_object(Bucket=bucket, Key=f"{wide}/x")["Body"].read() == b"wide"
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"too long for S3 too")
    assert error_of(raised)[1] == 400


def test_copy_and_delete_each_shape(s3: Any, bucket: str) -> None:
    put_all(s3, bucket)
    s3.copy_object(Bucket=bucket, Key="model/copy", CopySource=f"{bucket}/model")
    s3.copy_object(Bucket=bucket, Key="short", CopySource=f"{bucket}/ckpt/{LONG}")
    s3.copy_object(Bucket=bucket, Key="short/", CopySource=f"{bucket}/photos/")
    assert s3.get_object(Bucket=bucket, Key="model/copy")["Body"].read() == SHAPES["model"]
    assert s3.get_object(Bucket=bucket, Key="short")["Body"].read() == SHAPES[f"ckpt/{LONG}"]
    assert s3.get_object(Bucket=bucket, Key="short/")["Body"].read() == b""
    for key in ("model/copy", "short", "short/"):
        s3.delete_object(Bucket=bucket, Key=key)
    remaining = sorted(SHAPES)
    for key in list(remaining):
        s3.delete_object(Bucket=bucket, Key=key)
        remaining.remove(key)
        assert all_keys(s3, bucket) == (remaining, []), key
        for other in remaining:
            assert s3.get_object(Bucket=bucket, Key=other)["Body"].read() == SHAPES[other]
    s3.delete_bucket(Bucket=bucket)


def test_delete_objects_over_every_shape(s3: Any, bucket: str) -> None:
    put_all(s3, bucket)
    gone = ["model", "photos/", f"ckpt/{LONG}", "/leading"]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in gone]})
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted(gone)
    assert all_keys(s3, bucket) == (sorted(set(SHAPES) - set(gone)), [])
