"""Tags given to CreateMultipartUpload (``x-amz-tagging``) end up on the completed object,
through the low-level calls and boto3's managed transfer; a bad tag set fails at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from s3.helpers import error_of

MIB = 1024 * 1024


def _tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    tag_set = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def test_low_level_upload_keeps_the_tags_metadata_and_content_type(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket,
        Key="tagged.bin",
        Tagging="project=qaoa&stage=raw%20data&empty=",
        Metadata={"owner": "alice"},
        ContentType="application/x-thing",
    )["UploadId"]
    first, second = os.urandom(5 * MIB), b"tail"
    etags = [
        s3.upload_part(
            Bucket=bucket, Key="tagged.bin", UploadId=upload_id, PartNumber=n, Body=body
        )["ETag"]
        for n, body in ((1, first), (2, second))
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="tagged.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert _tags(s3, bucket, "tagged.bin") == {
        "project": "qaoa",
        "stage": "raw data",
        "empty": "",
    }
    head = s3.head_object(Bucket=bucket, Key="tagged.bin")
    assert head["Metadata"] == {"owner": "alice"}
    assert head["ContentType"] == "application/x-thing"
    assert "x-hybridjobs-tagging" not in str(head["ResponseMetadata"]["HTTPHeaders"])
    got = s3.get_object(Bucket=bucket, Key="tagged.bin")
    assert got["TagCount"] == 3
    assert got["Body"].read() == first + second


def test_upload_without_tags_has_none(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="plain")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="plain", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="plain",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    assert _tags(s3, bucket, "plain") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="plain")


def test_managed_transfer_keeps_the_tags(s3: Any, bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(12 * MIB))
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(
        str(path), bucket, "big.bin", ExtraArgs={"Tagging": "kind=dataset"}, Config=config
    )
    assert _tags(s3, bucket, "big.bin") == {"kind": "dataset"}
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-3"')


def test_the_tags_can_be_replaced_and_deleted_after_completion(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", Tagging="a=1")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "b", "Value": "2"}]})
    assert _tags(s3, bucket, "k") == {"b": "2"}
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert _tags(s3, bucket, "k") == {}


@pytest.mark.parametrize(
    ("tagging", "code"),
    [
        ("&".join(f"k{i}=v" for i in range(11)), "BadRequest"),
        ("k=1&k=2", "InvalidTag"),
        ("=value", "InvalidTag"),
    ],
)
def test_a_bad_tag_set_fails_the_create(s3: Any, bucket: str, tagging: str, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_multipart_upload(Bucket=bucket, Key="k", Tagging=tagging)
    assert error_of(caught)[0] == code
