"""Images run as real containers with Docker (``hybridjobs images add URI --container
IMAGE --runtime docker``): the same job as with Podman runs in Docker containers of the
image, on the image's interpreter, seeing its ``/opt/ml`` and nothing of the host; cancel
stops and removes the container.

The Docker daemon is the test's own (:class:`support.containerimages.PrivateDocker`:
private storage and socket, no bridge, no iptables rules), reached by the service's
Docker client through ``DOCKER_HOST``; the test image comes from Podman's storage
(``podman save`` → ``docker load``). Starting a daemon needs root, as CI is; ``.ci/run``
installs Debian's ``docker.io`` when ``dockerd`` is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import CLI_SERVER_ENV, ok
from support.containerimages import (
    DOCKER,
    DOCKERD,
    PODMAN,
    TERMINAL,
    PrivateDocker,
    assert_ran_in_the_test_image,
    create_container_job,
    ensure_test_image,
    job_log,
    podman,
    reported_worlds,
    wait_for_job,
    wait_until_ready,
    write_containers_conf,
)
from support.server import LiveServer, start_server

MAPPED = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-docker:1"
BUCKET = "hybridjobs-docker"

pytestmark = [
    pytest.mark.skipif(
        None in (PODMAN, DOCKER, DOCKERD), reason="podman, docker or dockerd is not installed"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="starting a Docker daemon needs root"),
]


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDocker]:
    # A short root: dockerd's socket path must fit a socket address (108 bytes).
    daemon = PrivateDocker(Path(f"/tmp/hj-docker-{os.getpid()}"))
    daemon.start()
    try:
        conf = write_containers_conf(tmp_path_factory.mktemp("podman") / "containers.conf")
        image = ensure_test_image(conf, tmp_path_factory.mktemp("image"))
        archive = tmp_path_factory.mktemp("archive") / "image.tar"
        saved = podman("save", "--format", "docker-archive", "-o", str(archive), image, conf=conf)
        assert saved.returncode == 0, saved.stderr
        loaded = daemon.docker("load", "--input", str(archive), timeout=300)
        assert loaded.returncode == 0, loaded.stderr
        archive.unlink()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, docker: PrivateDocker) -> Iterator[LiveServer]:
    env = {**CLI_SERVER_ENV, "DOCKER_HOST": docker.host}
    live = start_server(tmp_path_factory.mktemp("docker-server"), env=env)
    try:
        live.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
        ok(
            "images",
            "add",
            MAPPED,
            "--container",
            "localhost/hybridjobs-test/debian-python:bookworm",
            "--runtime",
            "docker",
            "--data-dir",
            str(live.data_dir),
            endpoint=None,
        )
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def _containers(docker: PrivateDocker, job_arn: str) -> list[str]:
    job_id = job_arn.rsplit("/", 1)[-1]
    listed = docker.docker("ps", "--all", "--format", "{{.Names}}")
    assert listed.returncode == 0, listed.stderr
    return [name for name in listed.stdout.split() if job_id in name]


def test_instances_run_in_docker_containers_of_the_image(
    server: LiveServer, docker: PrivateDocker
) -> None:
    arn = create_container_job(server, BUCKET, MAPPED, {"hide": str(server.data_dir)}, count=2)
    job = wait_for_job(server, arn, TERMINAL)
    log = job_log(server, arn)
    assert job["status"] == "COMPLETED", f"{job.get('failureReason')}\n{log}"
    assert_ran_in_the_test_image(reported_worlds(log), ["algo-1", "algo-2"])
    assert _containers(docker, arn) == []
    listed = json.loads(
        ok(
            "images",
            "--json",
            "--data-dir",
            str(server.data_dir),
            endpoint=None,
            env={"DOCKER_HOST": docker.host},
        ).stdout
    )
    row = next(row for row in listed if row["image"] == MAPPED)
    assert row["kind"] == "container" and Path(row["runtime"]).name == "docker", row
    assert row["size_bytes"] and row["size_bytes"] > 10 * 2**20, row


def test_cancel_stops_and_removes_the_docker_container(
    server: LiveServer, docker: PrivateDocker
) -> None:
    arn = create_container_job(server, BUCKET, MAPPED, {"sleep": "600"}, count=1)
    wait_until_ready(server, arn)
    assert len(_containers(docker, arn)) == 1
    server.client("braket").cancel_job(jobArn=arn)
    job = wait_for_job(server, arn, TERMINAL)
    assert job["status"] == "CANCELLED", job.get("failureReason")
    assert _containers(docker, arn) == []
