"""Images run as real containers (``hybridjobs images add URI --container IMAGE``), with
Podman: the job's instances run in containers of the image, on its own interpreter, and
see their ``/opt/ml`` and nothing of the host; cancel removes the containers; an image the
runtime cannot get fails the job with the runtime's own message; an MPI job looks for the
image's ``mpirun``.

The image, Podman's configuration for this host and the job are in
:mod:`support.containerimages`. ``.ci/run`` installs podman, runc and debootstrap when
they are missing; where Podman is not installed (a developer's machine) the module is
skipped. ``test_docker_images.py`` runs the same kind of job with Docker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import CLI_SERVER_ENV, hybridjobs, ok
from support.containerimages import (
    PODMAN,
    TERMINAL,
    TEST_IMAGE,
    assert_ran_in_the_test_image,
    create_container_job,
    ensure_mpi_test_image,
    ensure_test_image,
    job_log,
    podman,
    reported_worlds,
    wait_for_job,
    wait_until_ready,
    write_containers_conf,
)
from support.server import LiveServer, start_server

from hybridjobs.runners.containerlauncher import ContainerLauncher

MAPPED = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-boxed:1"
ABSENT = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-absent:1"
WITH_MPI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-mpi:1"
BUCKET = "hybridjobs-containers"
MPI_TAG = re.compile(r"\[\d+,\d+\]<std(?:out|err)>:")

pytestmark = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")


@pytest.fixture(scope="module")
def containers_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_containers_conf(tmp_path_factory.mktemp("podman") / "containers.conf")


@pytest.fixture(scope="module")
def test_image(containers_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_test_image(containers_conf, tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def mpi_test_image(containers_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_mpi_test_image(containers_conf, tmp_path_factory.mktemp("mpi-image"))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    containers_conf: Path,
    test_image: str,
    mpi_test_image: str,
) -> Iterator[LiveServer]:
    env = {**CLI_SERVER_ENV, "CONTAINERS_CONF": str(containers_conf)}
    live = start_server(tmp_path_factory.mktemp("container-server"), env=env)
    try:
        live.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
        for uri, container in (
            (MAPPED, test_image),
            (ABSENT, "localhost/hybridjobs-test/no:0"),
            (WITH_MPI, mpi_test_image),
        ):
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
    return create_container_job(server, BUCKET, image, hyperparameters, count)


def _containers(conf: Path, job_arn: str) -> list[str]:
    job_id = job_arn.rsplit("/", 1)[-1]
    listed = podman("ps", "--all", "--format", "{{.Names}}", conf=conf)
    assert listed.returncode == 0, listed.stderr
    return [name for name in listed.stdout.split() if job_id in name]


def test_instances_run_in_containers_of_the_image(
    server: LiveServer, containers_conf: Path
) -> None:
    arn = _create(server, MAPPED, {"hide": str(server.data_dir)}, count=2)
    job = wait_for_job(server, arn, TERMINAL)
    log = job_log(server, arn)
    assert job["status"] == "COMPLETED", f"{job.get('failureReason')}\n{log}"
    assert_ran_in_the_test_image(reported_worlds(log), ["algo-1", "algo-2"])
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
    wait_until_ready(server, arn)
    assert len(_containers(containers_conf, arn)) == 1
    server.client("braket").cancel_job(jobArn=arn)
    job = wait_for_job(server, arn, TERMINAL)
    assert job["status"] == "CANCELLED", job.get("failureReason")
    assert _containers(containers_conf, arn) == []


def test_an_image_the_runtime_cannot_get_fails_the_job(server: LiveServer) -> None:
    arn = _create(server, ABSENT, {}, count=1)
    job = wait_for_job(server, arn, TERMINAL)
    assert job["status"] == "FAILED"
    reason = job["failureReason"]
    assert "localhost/hybridjobs-test/no:0" in reason and "pull failed" in reason, reason
    assert str(server.data_dir) not in reason


def test_an_mpi_job_looks_for_mpirun_in_the_image(server: LiveServer) -> None:
    """An MPI job's algo-1 runs the image's ``mpirun``, not the host's: the test image
    has none, so the job fails before it starts and says so in the image's terms."""
    arn = _create(server, MAPPED, {"sagemaker_mpi_enabled": "true"}, count=1)
    job = wait_for_job(server, arn, TERMINAL)
    assert job["status"] == "FAILED"
    reason = job["failureReason"]
    assert f"container image {TEST_IMAGE} has no 'mpirun' on its PATH" in reason, reason
    assert "drop the MPI hyperparameters" in reason, reason


def test_an_mpi_job_runs_every_rank_under_the_images_mpirun(server: LiveServer) -> None:
    hyperparameters = {
        "sagemaker_mpi_enabled": "true",
        "sagemaker_mpi_num_of_processes_per_host": "2",
        "hide": str(server.data_dir),
    }
    arn = _create(server, WITH_MPI, hyperparameters, count=1)
    job = wait_for_job(server, arn, TERMINAL)
    log = job_log(server, arn)
    assert job["status"] == "COMPLETED", f"{job.get('failureReason')}\n{log}"
    assert_ran_in_the_test_image(reported_worlds(log), ["algo-1", "algo-1"])
    ranks = sorted(line.split("]", 1)[0] for line in log.splitlines() if "CONTAINER-INFO" in line)
    assert [rank.rsplit(",", 1)[-1] for rank in ranks] == ["0", "1"], log
    # mpirun tags each chunk it reads: a rank's line must reach it in one write, text and
    # newline together, or a stray tag lands at the end of the line. (A write longer than
    # mpirun's 2 KiB read, such as the 2.7 KB "Training Env" preamble, is still cut.)
    printed = ("Beginning Setup", "MPI is active", "CONTAINER-INFO", "Code Run Finished")
    lines = [line for line in log.splitlines() if any(text in line for text in printed)]
    assert len(lines) == 2 * len(printed), log
    torn = [line for line in lines if len(MPI_TAG.findall(line)) != 1]
    assert torn == [], torn


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
