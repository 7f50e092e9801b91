"""Multipart uploads: boto3's managed transfers of a 20 MB file, the low-level calls,
their errors, and durable staging in the object store, out of clients' sight (survives a
restart)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.server import LiveServer, start_server

from hybridjobs.objects import STAGING_PREFIX, LocalObjectStore
from s3.helpers import PATH_STYLE, QUIET_SERVER, error_of

MIB = 1024 * 1024
PART = 5 * MIB


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


@pytest.fixture(scope="module")
def twenty_mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "twenty.bin"
    path.write_bytes(os.urandom(20 * MIB))
    return path


def test_upload_file_and_download_file_20_mb(
    s3: Any, bucket: str, twenty_mb: Path, tmp_path: Path, server: LiveServer
) -> None:
    started = time.monotonic()
    s3.upload_file(str(twenty_mb), bucket, "data/twenty.bin")  # multipart above 8 MB
    uploaded = time.monotonic()
    s3.download_file(bucket, "data/twenty.bin", str(tmp_path / "back.bin"))
    downloaded = time.monotonic()
    assert (tmp_path / "back.bin").read_bytes() == twenty_mb.read_bytes()
    stored = server.data_dir / "objects" / bucket / "data" / "twenty.bin"
    assert stored.read_bytes() == twenty_mb.read_bytes()
    head = s3.head_object(Bucket=bucket, Key="data/twenty.bin")
    assert head["ETag"].endswith('-3"')  # 8 + 8 + 4 MiB parts
    assert head["PartsCount"] == 3
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(c["Key"], c["ETag"]) for c in listed] == [("data/twenty.bin", head["ETag"])]
    assert uploaded - started < 10.0, f"upload took {uploaded - started:.2f} s"
    assert downloaded - uploaded < 10.0, f"download took {downloaded - uploaded:.2f} s"


def test_low_level_multipart(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), os.urandom(PART), b"tail"]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp.bin", ContentType="application/x-mp", Metadata={"m": "1"}
    )
    upload_id = upload["UploadId"]
    assert (upload["Bucket"], upload["Key"]) == (bucket, "mp.bin")
    etags = []
    for number, data in enumerate(parts, start=1):
        out = s3.upload_part(
            Bucket=bucket, Key="mp.bin", UploadId=upload_id, PartNumber=number, Body=data
        )
        assert out["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        etags.append(out["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [
        (1, PART),
        (2, PART),
        (3, 4),
    ]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # staged parts are invisible
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    assert (done["Bucket"], done["Key"]) == (bucket, "mp.bin")
    got = s3.get_object(Bucket=bucket, Key="mp.bin")
    assert got["Body"].read() == b"".join(parts)
    assert (got["ETag"], got["ContentType"], got["Metadata"]) == (
        done["ETag"],
        "application/x-mp",
        {"m": "1"},
    )
    with pytest.raises(ClientError) as raised:
        s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=upload_id)
    assert error_of(raised) == ("NoSuchUpload", 404)


def test_abort_multipart_upload(s3: Any, bucket: str, server: LiveServer) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1, Body=b"x")
    objects = LocalObjectStore(server.data_dir / "objects")
    staged = f"{STAGING_PREFIX}{upload_id}/"
    assert len(list(objects.list(bucket, staged))) == 2  # the upload's record and its part
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # never listed
    out = s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert list(objects.list(bucket, staged)) == []
    with pytest.raises(ClientError) as raised:
        s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=2, Body=b"x")
    assert error_of(raised) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as raised:
        s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId="0" * 32)
    assert error_of(raised) == ("NoSuchUpload", 404)


def test_complete_errors(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"a")
    last = s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=2, Body=b"b")

    def complete(parts: list[tuple[int, str]]) -> tuple[str, int]:
        with pytest.raises(ClientError) as raised:
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key="bad",
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
            )
        return error_of(raised)

    assert complete([(1, small["ETag"]), (2, '"0123"')]) == ("InvalidPart", 400)
    assert complete([(3, last["ETag"])]) == ("InvalidPart", 400)
    assert complete([(2, last["ETag"]), (1, small["ETag"])]) == ("InvalidPartOrder", 400)
    assert complete([(1, small["ETag"]), (2, last["ETag"])]) == ("EntityTooSmall", 400)
    with pytest.raises(ClientError) as raised:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert error_of(raised) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as raised:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert error_of(raised) == ("NoSuchUpload", 404)
    single = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="bad",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": last["ETag"]}]},
    )
    assert single["ETag"] == multipart_etag([b"b"])
    assert s3.get_object(Bucket=bucket, Key="bad")["Body"].read() == b"b"


def test_managed_copy_of_a_large_object_uses_upload_part_copy(
    s3: Any, bucket: str, twenty_mb: Path
) -> None:
    s3.upload_file(str(twenty_mb), bucket, "big")
    s3.copy({"Bucket": bucket, "Key": "big"}, bucket, "big-copy")  # UploadPartCopy above 8 MB
    copied = s3.get_object(Bucket=bucket, Key="big-copy")
    assert copied["Body"].read() == twenty_mb.read_bytes()
    assert copied["ETag"].endswith('-3"')


def test_staged_upload_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "service"
    first = start_server(data_dir, env=QUIET_SERVER)
    try:
        s3 = first.client("s3", config=PATH_STYLE)
        s3.create_bucket(
            Bucket="durable", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
        upload_id = s3.create_multipart_upload(Bucket="durable", Key="k")["UploadId"]
        etag = s3.upload_part(
            Bucket="durable", Key="k", UploadId=upload_id, PartNumber=1, Body=b"kept"
        )["ETag"]
    finally:
        assert first.stop() == 0
    second = start_server(data_dir, env=QUIET_SERVER)
    try:
        s3 = second.client("s3", config=PATH_STYLE)
        s3.complete_multipart_upload(
            Bucket="durable",
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
        assert s3.get_object(Bucket="durable", Key="k")["Body"].read() == b"kept"
    finally:
        assert second.stop() == 0


def test_staging_keys_are_out_of_clients_reach(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.put_object(Bucket=bucket, Key="visible", Body=b"v")
    staged = f"{STAGING_PREFIX}{upload_id}/upload.json"
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key=staged, Body=b"overwrite"),
        lambda: s3.get_object(Bucket=bucket, Key=staged),
        lambda: s3.delete_object(Bucket=bucket, Key=staged),
        lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/{staged}"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key=f"{STAGING_PREFIX}x"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=bucket, Key=staged)
    assert error_of(raised)[1] == 400
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": staged}]})
    assert [e["Code"] for e in deleted["Errors"]] == ["InvalidArgument"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["visible"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX)
    assert "Versions" not in s3.list_object_versions(Bucket=bucket, Prefix=".hybridjobs")
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]  # the upload is untouched


def test_deleting_a_bucket_ends_its_uploads(s3: Any, server: LiveServer) -> None:
    s3.create_bucket(Bucket="ends-uploads")
    upload_id = s3.create_multipart_upload(Bucket="ends-uploads", Key="k")["UploadId"]
    s3.upload_part(Bucket="ends-uploads", Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.delete_bucket(Bucket="ends-uploads")
    assert not (server.data_dir / "objects" / "ends-uploads").exists()
    s3.create_bucket(Bucket="ends-uploads")
    with pytest.raises(ClientError) as raised:
        s3.list_parts(Bucket="ends-uploads", Key="k", UploadId=upload_id)
    assert error_of(raised) == ("NoSuchUpload", 404)
    s3.put_object(Bucket="ends-uploads", Key="k", Body=b"v")
    with pytest.raises(ClientError) as raised:
        s3.delete_bucket(Bucket="ends-uploads")
    assert error_of(raised) == ("BucketNotEmpty", 409)
