"""Listings: ListObjectsV2 and ListObjects pagination, delimiters, start-after and URL
encoding through a live server; the page logic itself as a pure function."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.server import LiveServer

from hybridjobs.objects import ObjectInfo
from hybridjobs.services.s3_listing import list_page

MANY = 2500


@pytest.fixture(scope="module")
def many_keys(s3: Any, server: LiveServer) -> tuple[str, list[str]]:
    """A bucket holding 2500 small objects spread over folders. They are written as files
    straight into DATA_DIR/objects/BUCKET (the layout users rely on), which is much faster
    than 2500 PutObject calls; a few go through PutObject as well."""
    name = "many-keys"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    keys = sorted(f"d{i % 7}/k{i:05d}" for i in range(MANY))
    root = server.data_dir / "objects" / name
    for key in keys[:-10]:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode())
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(lambda key: s3.put_object(Bucket=name, Key=key, Body=key.encode()), keys[-10:])
        )
    return name, keys


def test_v2_paginator_walks_2500_keys(s3: Any, many_keys: tuple[str, list[str]]) -> None:
    name, keys = many_keys
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=name))
    assert [page["KeyCount"] for page in pages] == [1000, 1000, 500]
    assert [page["IsTruncated"] for page in pages] == [True, True, False]
    assert all("NextContinuationToken" in page for page in pages[:2])
    assert "NextContinuationToken" not in pages[-1]
    listed = [item["Key"] for page in pages for item in page["Contents"]]
    assert listed == keys
    sizes = {item["Key"]: item["Size"] for page in pages for item in page["Contents"]}
    assert sizes["d0/k00000"] == len("d0/k00000")


def test_v2_max_keys_and_start_after(s3: Any, many_keys: tuple[str, list[str]]) -> None:
    name, keys = many_keys
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=name, Prefix="d3/", StartAfter="d3/k01000", PaginationConfig={"PageSize": 50}
        )
    )
    expected = [k for k in keys if k.startswith("d3/") and k > "d3/k01000"]
    assert [item["Key"] for page in pages for item in page["Contents"]] == expected
    assert all(page["KeyCount"] <= 50 for page in pages)
    assert pages[0]["StartAfter"] == "d3/k01000"


def test_v2_delimiter_rolls_up_common_prefixes(s3: Any, many_keys: tuple[str, list[str]]) -> None:
    name, _ = many_keys
    out = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == [f"d{i}/" for i in range(7)]
    assert "Contents" not in out
    assert out["KeyCount"] == 7
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=name, Delimiter="/", PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(page["CommonPrefixes"]) for page in pages] == [3, 3, 1]


def test_v1_marker_pagination(s3: Any, many_keys: tuple[str, list[str]]) -> None:
    name, keys = many_keys
    pages = list(
        s3.get_paginator("list_objects").paginate(Bucket=name, PaginationConfig={"PageSize": 700})
    )
    assert [item["Key"] for page in pages for item in page["Contents"]] == keys
    assert len(pages) == 4
    delimited = s3.list_objects(Bucket=name, Delimiter="/", MaxKeys=2)
    assert delimited["IsTruncated"] and delimited["NextMarker"] == "d1/"


def test_mixed_keys_and_prefixes(s3: Any, bucket: str) -> None:
    for key in ("a.txt", "dir/x", "dir/sub/y", "dir/z", "e/f", "g"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["a.txt", "g"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/", "e/"]
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [c["Key"] for c in inner["Contents"]] == ["dir/x", "dir/z"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["dir/sub/"]
    partial = s3.list_objects_v2(Bucket=bucket, Prefix="di")
    assert [c["Key"] for c in partial["Contents"]] == ["dir/sub/y", "dir/x", "dir/z"]


def test_url_encoding_type_round_trips_odd_keys(s3: Any, bucket: str) -> None:
    keys = sorted(["with space", "plus+sign", "percent%41", "unicodé θ", "amp&lt<"])
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    out = s3.list_objects_v2(Bucket=bucket)  # boto3 asks for encoding-type=url and decodes
    assert out["EncodingType"] == "url"
    assert [c["Key"] for c in out["Contents"]] == keys


def test_bad_continuation_token(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="%%%not-a-token")
    assert raised.value.response["Error"]["Code"] == "InvalidArgument"


def infos(*keys: str) -> list[ObjectInfo]:
    return [ObjectInfo(key, 1, 0.0, '"e"') for key in sorted(keys)]


def test_list_page_resumes_after_a_common_prefix() -> None:
    objects = infos("a/1", "a/2", "b", "c/1", "d")
    first = list_page(objects, delimiter="/", max_keys=2)
    assert (first.common_prefixes, [o.key for o in first.objects]) == (["a/"], ["b"])
    assert first.next_marker == "b"
    second = list_page(objects, delimiter="/", marker="a/", max_keys=10)
    assert (second.common_prefixes, [o.key for o in second.objects]) == (["c/"], ["b", "d"])


def test_list_page_exact_fit_is_not_truncated() -> None:
    page = list_page(infos("a", "b"), max_keys=2)
    assert not page.truncated and page.count == 2
    assert list_page(infos("a", "b", "c"), max_keys=2).next_marker == "b"
