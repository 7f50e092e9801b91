"""Images run as real containers (``hybridjobs images add URI --container IMAGE``), with
Podman: the job's instances run in containers of the image, on its own interpreter, and
see their ``/opt/ml`` and nothing of the host; cancel removes the containers; an image the
runtime cannot get fails the job with the runtime's own message.

The image is a Debian 12 root file system with Debian's python3 (3.11.2, not the
service's interpreter), made with debootstrap and ``podman import`` once, then kept in
Podman's storage. ``.ci/run`` installs podman, runc and debootstrap when they are missing;
where Podman is not installed (a developer's machine) the module is skipped.

This host's cgroups are v1 in hybrid mode, which Debian's default OCI runtime (crun)
refuses, and its hard limits are below Podman's default rlimits: the server's Podman gets
a ``containers.conf`` (``CONTAINERS_CONF``) naming runc and rlimits this host allows, as
an operator of such a host would write.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import CLI_SERVER_ENV, hybridjobs, ok
from support.jobs import create_job_request
from support.server import LiveServer, start_server

from hybridjobs.runners.containerlauncher import ContainerLauncher

HERE = Path(__file__).parent
TEST_IMAGE = "localhost/hybridjobs-test/debian-python:bookworm"
MAPPED = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-boxed:1"
ABSENT = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-absent:1"
BUCKET = "hybridjobs-containers"

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")


def _podman(*args: str, conf: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert PODMAN is not None
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    return subprocess.run(
        [PODMAN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def containers_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Podman's configuration for this host (see the module docstring)."""
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={files}:{files}", "nproc=20000:20000"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    return conf


@pytest.fixture(scope="module")
def test_image(containers_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Debian image with python3, made once (debootstrap, ``podman import``)."""
    if _podman("image", "exists", TEST_IMAGE, conf=containers_conf).returncode == 0:
        return TEST_IMAGE
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    root = tmp_path_factory.mktemp("rootfs")
    made = subprocess.run(
        [debootstrap, "--variant=minbase", "--include=python3", "bookworm", str(root)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    archive = tmp_path_factory.mktemp("image") / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    shutil.rmtree(root, ignore_errors=True)
    imported = _podman("import", str(archive), TEST_IMAGE, conf=containers_conf, timeout=600)
    archive.unlink()
    assert imported.returncode == 0, imported.stderr
    return TEST_IMAGE


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, containers_conf: Path, test_image: str
) -> Iterator[LiveServer]:
    env = {**CLI_SERVER_ENV, "CONTAINERS_CONF": str(containers_conf)}
    live = start_server(tmp_path_factory.mktemp("container-server"), env=env)
    try:
        live.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
        for uri, container in ((MAPPED, test_image), (ABSENT, "localhost/hybridjobs-test/no:0")):
            ok(
                "images",
                "add",
                uri,
                "--container",
                container,
                "--runtime",
                "podman",
                "--data-dir",
                str(live.data_dir),
                endpoint=None,
            )
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def _create(server: LiveServer, image: str, hyperparameters: dict[str, str], count: int) -> str:
    s3 = server.client("s3")
    key = f"src/{uuid.uuid4().hex}/inside.py"
    s3.put_object(Bucket=BUCKET, Key=key, Body=(HERE / "container_job" / "inside.py").read_bytes())
    request = create_job_request(
        jobName=f"boxed-{uuid.uuid4().hex[:8]}",
        algorithmSpecification={
            "scriptModeConfig": {
                "s3Uri": f"s3://{BUCKET}/{key}",
                "entryPoint": "inside",
                "compressionType": "NONE",
            },
            "containerImage": {"uri": image},
        },
        hyperParameters=hyperparameters,
        instanceConfig={"instanceType": "ml.m5.large", "instanceCount": count, "volumeSizeInGb": 1},
        outputDataConfig={"s3Path": f"s3://{BUCKET}/out/{uuid.uuid4().hex}"},
    )
    arn: str = server.client("braket").create_job(**request)["jobArn"]
    return arn


def _wait(server: LiveServer, arn: str, statuses: set[str], timeout: float = 300) -> Any:
    braket = server.client("braket")
    deadline = time.monotonic() + timeout
    while True:
        job = braket.get_job(jobArn=arn)
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def _log(server: LiveServer, arn: str) -> str:
    return str(ok("logs", arn, "--region", "us-west-2", endpoint=server.url).stdout)


def _containers(conf: Path, job_arn: str) -> list[str]:
    job_id = job_arn.rsplit("/", 1)[-1]
    listed = _podman("ps", "--all", "--format", "{{.Names}}", conf=conf)
    assert listed.returncode == 0, listed.stderr
    return [name for name in listed.stdout.split() if job_id in name]


def test_instances_run_in_containers_of_the_image(
    server: LiveServer, containers_conf: Path
) -> None:
    arn = _create(server, MAPPED, {"hide": str(server.data_dir)}, count=2)
    job = _wait(server, arn, {"COMPLETED", "FAILED", "CANCELLED"})
    log = _log(server, arn)
    assert job["status"] == "COMPLETED", f"{job.get('failureReason')}\n{log}"
    infos = [
        json.loads(line.split("CONTAINER-INFO ", 1)[1])
        for line in log.splitlines()
        if "CONTAINER-INFO " in line
    ]
    assert sorted(info["hostname"] for info in infos) == ["algo-1", "algo-2"], log
    for info in infos:
        assert info["os"].startswith("Debian GNU/Linux 12"), info
        assert info["executable"] == "/usr/bin/python3", info  # the image's interpreter
        assert info["cwd"].startswith("/opt/ml/code/"), info
        assert info["hyperparameters_file"] == "/opt/ml/input/config/hyperparameters.json"
        assert info["braket_alias"], info
        assert not info["host_path_visible"], f"the data directory is visible: {info}"
    assert _containers(containers_conf, arn) == []
    listed = json.loads(
        ok("images", "--json", "--data-dir", str(server.data_dir), endpoint=None).stdout
    )
    row = next(row for row in listed if row["image"] == MAPPED)
    assert row["kind"] == "container" and row["container"] == TEST_IMAGE, row
    assert row["size_bytes"] and row["size_bytes"] > 10 * 2**20, row
    doctor = hybridjobs("doctor", "--data-dir", str(server.data_dir), endpoint=None)
    found = [line for line in doctor.stdout.splitlines() if "container image" in line]
    assert any(MAPPED in line and TEST_IMAGE in line for line in found), doctor.stdout
    assert any(ABSENT in line and "first job pulls it" in line for line in found), doctor.stdout


def test_cancel_stops_and_removes_the_containers(server: LiveServer, containers_conf: Path) -> None:
    arn = _create(server, MAPPED, {"sleep": "600"}, count=1)
    deadline = time.monotonic() + 300
    while "CONTAINER-READY" not in _log(server, arn):
        assert time.monotonic() < deadline, _log(server, arn)
        time.sleep(0.2)
    assert len(_containers(containers_conf, arn)) == 1
    server.client("braket").cancel_job(jobArn=arn)
    job = _wait(server, arn, {"CANCELLED", "FAILED", "COMPLETED"})
    assert job["status"] == "CANCELLED", job.get("failureReason")
    assert _containers(containers_conf, arn) == []


def test_an_image_the_runtime_cannot_get_fails_the_job(server: LiveServer) -> None:
    arn = _create(server, ABSENT, {}, count=1)
    job = _wait(server, arn, {"COMPLETED", "FAILED", "CANCELLED"})
    assert job["status"] == "FAILED"
    reason = job["failureReason"]
    assert "localhost/hybridjobs-test/no:0" in reason and "pull failed" in reason, reason
    assert str(server.data_dir) not in reason


def test_an_mpi_job_looks_for_mpirun_in_the_image(server: LiveServer) -> None:
    """An MPI job's algo-1 runs the image's ``mpirun``, not the host's: the test image
    has none, so the job fails before it starts and says so in the image's terms."""
    arn = _create(server, MAPPED, {"sagemaker_mpi_enabled": "true"}, count=1)
    job = _wait(server, arn, {"COMPLETED", "FAILED", "CANCELLED"})
    assert job["status"] == "FAILED"
    reason = job["failureReason"]
    assert f"container image {TEST_IMAGE} has no 'mpirun' on its PATH" in reason, reason
    assert "drop the MPI hyperparameters" in reason, reason


def test_the_launcher_finds_commands_in_the_image_not_on_the_host(
    containers_conf: Path, test_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PODMAN is not None
    monkeypatch.setenv("CONTAINERS_CONF", str(containers_conf))
    launcher = ContainerLauncher(PODMAN, test_image)
    assert launcher.find_command("python3") == "/usr/bin/python3"
    assert launcher.find_command("podman") is None  # the host has it, the image not


def test_images_add_container_needs_the_runtime(tmp_path: Path) -> None:
    result = hybridjobs(
        "images",
        "add",
        MAPPED,
        "--container",
        "--runtime",
        "docker",
        "--data-dir",
        str(tmp_path),
        endpoint=None,
        env={"PATH": str(tmp_path)},  # no runtime on PATH
    )
    assert result.returncode != 0
    assert "docker is not installed" in result.stderr, result.stderr
