"""A stateless API: two ``hybridjobs serve --no-scheduler`` processes with different data
directories, one PostgreSQL database and one S3-compatible store (moto) serve the same
buckets, objects, uploads and jobs, and keep no S3 state on their own disks. The store is
used through ``--objects s3://BUCKET/PREFIX`` (every bucket in one real bucket) and, as
before that option, with one real bucket per bucket (``HYBRIDJOBS_S3_ENDPOINT_URL`` alone)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support.jobs import create_job_request, unique_name
from support.moto import MOTO_ACCESS_KEY, MOTO_SECRET_KEY, moto_server
from support.postgres import create_schema
from support.server import API_TEST_SERVER_ENV, LiveServer, start_server

from s3.helpers import PATH_STYLE, error_of

REAL_BUCKET = "hj-shared"
PREFIX = "deploy/one"
PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def real_s3(moto_endpoint: str) -> Any:
    """A boto3 client of the real store (moto) itself, to look at the layout."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=MOTO_ACCESS_KEY,
        aws_secret_access_key=MOTO_SECRET_KEY,
    )


@pytest.fixture(scope="module", params=["objects", "endpoint"])
def mode(request: pytest.FixtureRequest) -> str:
    """``objects``: ``--objects s3://hj-shared/deploy/one``; ``endpoint``: real buckets."""
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str, moto_endpoint: str, mode: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two API processes, each with its own data directory, on one database and store."""
    env = {
        **API_TEST_SERVER_ENV,
        "HYBRIDJOBS_DB_URL": create_schema(pg_url),
        "HYBRIDJOBS_S3_ENDPOINT_URL": moto_endpoint,
        "HYBRIDJOBS_S3_ACCESS_KEY_ID": MOTO_ACCESS_KEY,
        "HYBRIDJOBS_S3_SECRET_ACCESS_KEY": MOTO_SECRET_KEY,
    }
    args = ["--no-scheduler"]
    if mode == "objects":
        args += ["--objects", f"s3://{REAL_BUCKET}/{PREFIX}"]
    started: list[LiveServer] = []
    try:
        for name in ("api-a", "api-b"):
            started.append(start_server(tmp_path_factory.mktemp(name), env=env, extra_args=args))
        yield started[0], started[1]
    finally:
        codes = [live.stop() for live in started]
        assert all(code == 0 for code in codes), [live.log_tail() for live in started]


def _s3(server: LiveServer) -> Any:
    return server.client("s3", config=PATH_STYLE)


def _local_files(data_dir: Path) -> list[str]:
    """Everything a server wrote under its data directory, but its own log."""
    return sorted(
        str(path.relative_to(data_dir))
        for path in data_dir.rglob("*")
        if path.is_file() and path.name != "server.log"
    )


def test_objects_attributes_and_tags_are_shared(
    servers: tuple[LiveServer, LiveServer], real_s3: Any, mode: str
) -> None:
    one, other = _s3(servers[0]), _s3(servers[1])
    one.create_bucket(
        Bucket="shared", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    one.put_object(
        Bucket="shared",
        Key="docs/readme.txt",
        Body=b"hello from one",
        ContentType="text/x-custom",
        Metadata={"owner": "alice"},
        CacheControl="max-age=60",
        Tagging="team=qa&tier=1",
    )

    head = other.head_object(Bucket="shared", Key="docs/readme.txt")
    assert (head["ContentType"], head["Metadata"], head["CacheControl"]) == (
        "text/x-custom",
        {"owner": "alice"},
        "max-age=60",
    )
    got = other.get_object(Bucket="shared", Key="docs/readme.txt")
    assert (got["Body"].read(), got["TagCount"]) == (b"hello from one", 2)
    tags = other.get_object_tagging(Bucket="shared", Key="docs/readme.txt")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "qa", "tier": "1"}
    listed = other.list_objects_v2(Bucket="shared")["Contents"]
    assert [(c["Key"], c["ETag"]) for c in listed] == [("docs/readme.txt", head["ETag"])]
    assert other.get_bucket_location(Bucket="shared")["LocationConstraint"] == "eu-west-1"
    buckets = {b["Name"]: b for b in other.list_buckets()["Buckets"]}
    assert buckets["shared"]["BucketRegion"] == "eu-west-1"

    other.put_object_tagging(
        Bucket="shared", Key="docs/readme.txt", Tagging={"TagSet": [{"Key": "by", "Value": "b"}]}
    )
    assert one.get_object_tagging(Bucket="shared", Key="docs/readme.txt")["TagSet"] == [
        {"Key": "by", "Value": "b"}
    ]

    if mode == "objects":  # the service's bucket B and key K are PREFIX/B/K of one bucket
        real = real_s3.list_objects_v2(Bucket=REAL_BUCKET, Prefix=f"{PREFIX}/")["Contents"]
        keys = {item["Key"] for item in real}
        assert f"{PREFIX}/shared/docs/readme.txt" in keys
        assert f"{PREFIX}/.hybridjobs-buckets/shared" in keys
    else:  # a real bucket per bucket
        real = real_s3.list_objects_v2(Bucket="shared")["Contents"]
        assert [item["Key"] for item in real] == ["docs/readme.txt"]


def test_a_multipart_upload_moves_between_processes(servers: tuple[LiveServer, LiveServer]) -> None:
    one, other = _s3(servers[0]), _s3(servers[1])
    one.create_bucket(Bucket="uploads")
    upload_id = one.create_multipart_upload(
        Bucket="uploads",
        Key="big.bin",
        ContentType="application/x-big",
        Metadata={"m": "1"},
        Tagging="stage=final",
    )["UploadId"]
    parts = [os.urandom(PART), b"tail bytes"]
    first = one.upload_part(
        Bucket="uploads", Key="big.bin", UploadId=upload_id, PartNumber=1, Body=parts[0]
    )["ETag"]
    second = other.upload_part(
        Bucket="uploads", Key="big.bin", UploadId=upload_id, PartNumber=2, Body=parts[1]
    )["ETag"]

    for client in (one, other):
        listed = client.list_parts(Bucket="uploads", Key="big.bin", UploadId=upload_id)["Parts"]
        assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
            (1, first, PART),
            (2, second, len(parts[1])),
        ]
    assert "Contents" not in one.list_objects_v2(Bucket="uploads")  # staged parts are hidden

    done = other.complete_multipart_upload(
        Bucket="uploads",
        Key="big.bin",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
        },
    )
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-2"'

    head = one.head_object(Bucket="uploads", Key="big.bin")
    assert (head["ETag"], head["ContentType"], head["Metadata"], head["PartsCount"]) == (
        done["ETag"],
        "application/x-big",
        {"m": "1"},
        2,
    )
    assert one.get_object(Bucket="uploads", Key="big.bin")["Body"].read() == b"".join(parts)
    assert one.get_object_tagging(Bucket="uploads", Key="big.bin")["TagSet"] == [
        {"Key": "stage", "Value": "final"}
    ]
    listed = one.list_objects_v2(Bucket="uploads")["Contents"]
    assert [(c["Key"], c["ETag"]) for c in listed] == [("big.bin", done["ETag"])]
    with pytest.raises(ClientError) as raised:
        one.list_parts(Bucket="uploads", Key="big.bin", UploadId=upload_id)
    assert error_of(raised) == ("NoSuchUpload", 404)


def test_a_job_created_on_one_process_is_read_on_the_other(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    name = unique_name("stateless")
    arn = servers[0].client("braket").create_job(**create_job_request(jobName=name))["jobArn"]
    job = servers[1].client("braket").get_job(jobArn=arn)
    assert (job["jobArn"], job["jobName"], job["status"]) == (arn, name, "QUEUED")


def test_no_process_keeps_s3_state_on_its_disk(
    servers: tuple[LiveServer, LiveServer], mode: str
) -> None:
    # Runs after the tests above have used both processes (module order).
    for server in servers:
        announced = "objects: s3://hj-shared/deploy/one" in server.log_text()
        assert announced == (mode == "objects")
        assert _local_files(server.data_dir) == [], server.data_dir
        for old_state in ("objects", "multipart", "s3meta"):
            assert not (server.data_dir / old_state).exists()
