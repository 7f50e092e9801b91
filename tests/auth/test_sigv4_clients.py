"""Real clients keep working against a server that verifies every signature: boto3
(path-style and virtual-hosted S3, multipart uploads), the AWS CLI (``s3 cp`` with
multipart, ``s3 presign``, ``braket``, ``sts``) and the Braket SDK running a task on SV1
(CreateQuantumTask, GetQuantumTask, the result from S3)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.braket import point_sdk_at
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LiveServer, aws_client

from auth.conftest import KEYED_ENV, PATH_STYLE

AWS_CLI = Path(sys.executable).with_name("aws")
REGION = "us-west-2"
RESULTS_BUCKET = f"amazon-braket-{REGION}-000000000000"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Keys, and quantum tasks run (one worker, started with the server)."""
    return {
        **KEYED_ENV,
        "HYBRIDJOBS_RUN_SCHEDULER": "true",
        "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
        "HYBRIDJOBS_TASK_WORKERS": "1",
        "HYBRIDJOBS_TASK_WORKERS_PRESTART": "true",
    }


def run_aws(server: LiveServer, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    done = subprocess.run(
        [str(AWS_CLI), "--endpoint-url", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_boto3_multipart_upload_and_download(s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * 2**20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    s3.upload_file(str(source), bucket, "big.bin")  # 8 MiB parts
    s3.download_file(bucket, "big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data


def test_boto3_virtual_hosted_requests(
    server: LiveServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from botocore.config import Config

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    virtual = aws_client(
        "s3", f"http://localhost:{server.port}", config=Config(s3={"addressing_style": "virtual"})
    )
    virtual.put_object(Bucket=bucket, Key="virtual key", Body=b"v")
    assert virtual.get_object(Bucket=bucket, Key="virtual key")["Body"].read() == b"v"


def test_aws_cli(server: LiveServer, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(9 * 2**20)  # the CLI uploads this in parts
    (tmp_path / "cli.bin").write_bytes(data)
    run_aws(server, "s3", "cp", str(tmp_path / "cli.bin"), f"s3://{bucket}/cli.bin")
    assert "cli.bin" in run_aws(server, "s3", "ls", f"s3://{bucket}/")
    url = run_aws(server, "s3", "presign", f"s3://{bucket}/cli.bin", "--expires-in", "60")
    with urllib.request.urlopen(url.strip(), timeout=30) as response:
        assert response.read() == data
    assert "SV1" in run_aws(server, "braket", "search-devices", "--filters", "[]")
    assert "000000000000" in run_aws(server, "sts", "get-caller-identity")


@pytest.fixture
def sdk_user(server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    server.client("s3", config=PATH_STYLE).create_bucket(
        Bucket=RESULTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    yield point_sdk_at(monkeypatch, server.url, REGION, tmp_path)


def test_braket_sdk_runs_a_task(sdk_user: Path) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    device = AwsDevice(SV1)
    counts = device.run(Circuit().h(0).cnot(0, 1), shots=100).result().measurement_counts
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 100
