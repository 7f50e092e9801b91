"""Other ways in: virtual-hosted addressing (boto3 and raw Host headers) and the AWS CLI
(``aws s3 cp``, ``ls``, ``sync``) against ``--endpoint-url``."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LiveServer

from s3.rawhttp import s3_request

AWS_CLI = Path(sys.executable).with_name("aws")


def test_virtual_hosted_boto3(virtual_s3: Any, s3: Any, bucket: str) -> None:
    urls: list[str] = []
    virtual_s3.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))
    virtual_s3.put_object(Bucket=bucket, Key="v/key one", Body=b"virtual")
    assert s3.get_object(Bucket=bucket, Key="v/key one")["Body"].read() == b"virtual"
    assert virtual_s3.get_object(Bucket=bucket, Key="v/key one")["Body"].read() == b"virtual"
    assert virtual_s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = virtual_s3.list_objects_v2(Bucket=bucket, Prefix="v/")
    assert [c["Key"] for c in listed["Contents"]] == ["v/key one"]
    virtual_s3.delete_object(Bucket=bucket, Key="v/key one")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_virtual_hosted_create_bucket(virtual_s3: Any, s3: Any) -> None:
    virtual_s3.create_bucket(
        Bucket="made-virtually", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    assert s3.head_bucket(Bucket="made-virtually")["BucketRegion"] == "us-west-2"


@pytest.mark.parametrize("host_form", ["{b}.s3.localhost:{p}", "{b}.localhost:{p}"])
def test_raw_virtual_host_headers(server: LiveServer, s3: Any, bucket: str, host_form: str) -> None:
    host = host_form.format(b=bucket, p=server.port)
    put = s3_request(server.port, "PUT", "/raw/obj.txt", host=host, body=b"raw")
    assert put.status == 200, put.body
    assert s3.get_object(Bucket=bucket, Key="raw/obj.txt")["Body"].read() == b"raw"
    listed = s3_request(server.port, "GET", "/?list-type=2&prefix=raw/", host=host)
    assert listed.status == 200 and b"<Key>raw/obj.txt</Key>" in listed.body
    head = s3_request(server.port, "HEAD", "/", host=host)
    assert head.status == 200


def run_aws(server: LiveServer, *args: str, cwd: Path | None = None) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    done = subprocess.run(
        [str(AWS_CLI), "--endpoint-url", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_aws_cli_cp_ls_sync(server: LiveServer, s3: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "nested" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"alpha",
        "nested/b.json": b'{"b": 1}',
        "nested/deeper/c with space.bin": os.urandom(9 * 1024 * 1024),  # multipart
    }
    for name, data in files.items():
        (source / name).write_bytes(data)

    run_aws(server, "s3", "cp", str(source / "a.txt"), f"s3://{bucket}/single/a.txt")
    assert s3.get_object(Bucket=bucket, Key="single/a.txt")["Body"].read() == b"alpha"
    assert f"{bucket}" in run_aws(server, "s3", "ls")

    run_aws(server, "s3", "sync", str(source), f"s3://{bucket}/synced")
    stored = server.data_dir / "objects" / bucket / "synced"
    for name, data in files.items():
        assert (stored / name).read_bytes() == data
    listing = run_aws(server, "s3", "ls", f"s3://{bucket}/synced/")
    assert "PRE nested/" in listing and "a.txt" in listing
    recursive = run_aws(server, "s3", "ls", "--recursive", f"s3://{bucket}/synced/")
    assert "synced/nested/deeper/c with space.bin" in recursive
    assert "upload:" not in run_aws(server, "s3", "sync", str(source), f"s3://{bucket}/synced")

    back = tmp_path / "back"
    run_aws(server, "s3", "sync", f"s3://{bucket}/synced", str(back))
    for name, data in files.items():
        assert (back / name).read_bytes() == data
    run_aws(server, "s3", "cp", f"s3://{bucket}/single/a.txt", str(tmp_path / "a-copy.txt"))
    assert (tmp_path / "a-copy.txt").read_bytes() == b"alpha"
    run_aws(server, "s3", "rm", "--recursive", f"s3://{bucket}/synced")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="synced/")["KeyCount"] == 0


def test_presigned_get_and_put(server: LiveServer, bucket: str) -> None:
    """SigV4 presigned URLs (the credential scope in the query names the service)."""
    s3 = server.client(
        "s3", config=Config(signature_version="s3v4", s3={"addressing_style": "path"})
    )
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
    )
    request = urllib.request.Request(put_url, data=b"presigned", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
    )
    with urllib.request.urlopen(get_url, timeout=30) as response:
        assert response.read() == b"presigned"
