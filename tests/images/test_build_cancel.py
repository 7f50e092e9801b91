"""Cancelling a job while its image environment builds ends it at once: the build's
processes (uv and the package's build backend) are killed, nothing half-built is kept,
and the job is CANCELLED (before, the cancel waited for the build to end).

The environment's one requirement is ``slow_backend/``, a local package whose PEP 517
backend never finishes (it writes its pid, then sleeps), so no network is involved."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import CLI_SERVER_ENV, ok
from support.jobs import create_job_request
from support.server import LiveServer, start_server

HERE = Path(__file__).parent
SLOW = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-slow-build:1"
BUCKET = "hybridjobs-build-cancel"


@pytest.fixture()
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    cache = getattr(request.config, "cache", None)  # uv's cache, shared with the image tests
    shared = Path(cache.mkdir("hybridjobs-images")) if cache is not None else tmp_path
    env = {
        **CLI_SERVER_ENV,
        "SLOW_BUILD_MARKER": str(tmp_path / "building.pid"),
        "HYBRIDJOBS_ENVIRONMENTS_DIR": str(tmp_path / "environments"),
        "HYBRIDJOBS_UV_CACHE_DIR": str(shared / "uv-cache"),
    }
    live = start_server(tmp_path / "server", env=env)
    try:
        requirements = tmp_path / "requirements.txt"
        requirements.write_text(
            f"hybridjobs-test-slow-build @ {(HERE / 'slow_backend').as_uri()}\n"
        )
        ok(
            "images",
            "add",
            SLOW,
            "--requirements",
            str(requirements),
            "--data-dir",
            str(live.data_dir),
            "--environments-dir",
            str(tmp_path / "environments"),
            endpoint=None,
        )
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_cancel_during_the_build_ends_it(server: LiveServer, tmp_path: Path) -> None:
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=BUCKET, Key="src/job.py", Body=b"print('never runs')\n")
    braket = server.client("braket")
    arn = braket.create_job(
        **create_job_request(
            jobName=f"slow-build-{uuid.uuid4().hex[:8]}",
            algorithmSpecification={
                "scriptModeConfig": {
                    "s3Uri": f"s3://{BUCKET}/src/job.py",
                    "entryPoint": "job",
                    "compressionType": "NONE",
                },
                "containerImage": {"uri": SLOW},
            },
            outputDataConfig={"s3Path": f"s3://{BUCKET}/out"},
        )
    )["jobArn"]
    marker = tmp_path / "building.pid"
    deadline = time.monotonic() + 300
    while not marker.exists() or not marker.read_text():
        job = braket.get_job(jobArn=arn)
        assert job["status"] in ("QUEUED", "RUNNING"), job.get("failureReason")
        assert time.monotonic() < deadline, "the build backend never started"
        time.sleep(0.1)
    backend = int(marker.read_text())
    assert _alive(backend)
    braket.cancel_job(jobArn=arn)
    deadline = time.monotonic() + 60  # the build itself would take 600 s
    while (job := braket.get_job(jobArn=arn))["status"] not in ("CANCELLED", "FAILED", "COMPLETED"):
        assert time.monotonic() < deadline, f"still {job['status']} 60 s after the cancel"
        time.sleep(0.1)
    assert job["status"] == "CANCELLED", job.get("failureReason")
    messages = " ".join(event.get("message", "") for event in job["events"])
    assert "Building the environment" in messages, messages
    deadline = time.monotonic() + 10
    while _alive(backend):
        assert time.monotonic() < deadline, f"the build backend {backend} outlived the cancel"
        time.sleep(0.05)
    leftovers = [
        p.name for p in (tmp_path / "environments").iterdir() if p.name.endswith(".building")
    ]
    assert leftovers == []
