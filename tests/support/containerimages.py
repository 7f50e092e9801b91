"""Real container runtimes for the tests of images that run as containers.

* The test image: a Debian 12 root file system with Debian's python3 (3.11.2, not the
  service's interpreter), made with debootstrap and ``podman import`` once, then kept in
  Podman's storage (:func:`ensure_test_image`); and the same with Debian's Open MPI
  (:func:`ensure_mpi_test_image`, ``podman build``).
* Podman's configuration for this host (:func:`write_containers_conf`): its cgroups are
  v1 in hybrid mode, which Debian's default OCI runtime (crun) refuses, and its hard
  limits are below Podman's default rlimits, so it names runc and rlimits this host
  allows, as an operator of such a host would write.
* A private Docker daemon (:class:`PrivateDocker`): ``dockerd`` with its own data, exec
  root and socket under a test directory, no bridge and no iptables rules (instances use
  the host's network), stopped and removed at the end; the machine's Docker, if any, is
  not touched.
* Jobs that report the world they run in (``tests/images/container_job/inside.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from support.cli import ok
from support.jobs import create_job_request
from support.server import LiveServer

TEST_IMAGE = "localhost/hybridjobs-test/debian-python:bookworm"
MPI_TEST_IMAGE = "localhost/hybridjobs-test/debian-python-mpi:bookworm"
JOB_SCRIPT = Path(__file__).parent.parent / "images" / "container_job" / "inside.py"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
PODMAN = shutil.which("podman")
DOCKER = shutil.which("docker")
DOCKERD = shutil.which("dockerd")


def podman(*args: str, conf: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run Podman with the configuration ``conf``; output captured."""
    assert PODMAN is not None
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    return subprocess.run(
        [PODMAN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def write_containers_conf(path: Path) -> Path:
    """Write Podman's configuration for this host (see the module docstring) to ``path``."""
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    path.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={files}:{files}", "nproc=20000:20000"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    return path


def ensure_test_image(conf: Path, workdir: Path) -> str:
    """Make :data:`TEST_IMAGE` in Podman's storage unless it is there (debootstrap into
    ``workdir``, then ``podman import``); return its name."""
    if podman("image", "exists", TEST_IMAGE, conf=conf).returncode == 0:
        return TEST_IMAGE
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    root = workdir / "rootfs"
    made = subprocess.run(
        [debootstrap, "--variant=minbase", "--include=python3", "bookworm", str(root)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    archive = workdir / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    shutil.rmtree(root, ignore_errors=True)
    imported = podman("import", str(archive), TEST_IMAGE, conf=conf, timeout=600)
    archive.unlink()
    assert imported.returncode == 0, imported.stderr
    return TEST_IMAGE


def ensure_mpi_test_image(conf: Path, workdir: Path) -> str:
    """Make :data:`MPI_TEST_IMAGE` (the test image plus Debian's Open MPI) in Podman's
    storage unless it is there; return its name."""
    if podman("image", "exists", MPI_TEST_IMAGE, conf=conf).returncode == 0:
        return MPI_TEST_IMAGE
    base = ensure_test_image(conf, workdir)
    (workdir / "Containerfile").write_text(
        f"FROM {base}\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends openmpi-bin && rm -rf /var/lib/apt/lists/*\n"
    )
    built = podman(
        "build", "--network", "host", "-t", MPI_TEST_IMAGE, str(workdir), conf=conf, timeout=900
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return MPI_TEST_IMAGE


class PrivateDocker:
    """A ``dockerd`` of the test's own under ``root`` (see the module docstring).

    :meth:`start` returns once the daemon answers; :meth:`stop` ends it (SIGTERM, then
    SIGKILL) with its containerd and removes what it stored. :attr:`host` is its
    ``DOCKER_HOST``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = f"unix://{root / 'docker.sock'}"
        self.process: subprocess.Popen[bytes] | None = None

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the Docker client against this daemon; output captured."""
        assert DOCKER is not None
        env = {**os.environ, "DOCKER_HOST": self.host}
        return subprocess.run(
            [DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, deadline_seconds: float = 60) -> None:
        assert DOCKERD is not None
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "dockerd.log").open("wb")
        self.process = subprocess.Popen(
            [
                DOCKERD,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "--host",
                self.host,
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + deadline_seconds
        while self.docker("version", timeout=10).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dockerd did not start:\n" + self.log_tail())
            time.sleep(0.1)  # dockerd says nothing else when it is ready

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "dockerd.log").read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # dockerd ends its containerd
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        for mount_point in _mounts_under(self.root):  # e.g. its network namespace file
            subprocess.run(["umount", "--lazy", mount_point], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        assert not self.root.exists(), f"{self.root} could not be removed"


def _mounts_under(root: Path) -> list[str]:
    """Mount points below ``root``, deepest first."""
    prefix = f"{root}/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def create_container_job(
    server: LiveServer, bucket: str, image: str, hyperparameters: dict[str, str], count: int
) -> str:
    """Create a job of ``count`` instances of ``inside.py`` on ``image``; its ARN."""
    s3 = server.client("s3")
    key = f"src/{uuid.uuid4().hex}/inside.py"
    s3.put_object(Bucket=bucket, Key=key, Body=JOB_SCRIPT.read_bytes())
    request = create_job_request(
        jobName=f"boxed-{uuid.uuid4().hex[:8]}",
        algorithmSpecification={
            "scriptModeConfig": {
                "s3Uri": f"s3://{bucket}/{key}",
                "entryPoint": "inside",
                "compressionType": "NONE",
            },
            "containerImage": {"uri": image},
        },
        hyperParameters=hyperparameters,
        instanceConfig={"instanceType": "ml.m5.large", "instanceCount": count, "volumeSizeInGb": 1},
        outputDataConfig={"s3Path": f"s3://{bucket}/out/{uuid.uuid4().hex}"},
    )
    arn: str = server.client("braket").create_job(**request)["jobArn"]
    return arn


def wait_for_job(server: LiveServer, arn: str, statuses: set[str], timeout: float = 300) -> Any:
    """GetJob's answer once the job is in one of ``statuses`` (or after ``timeout``)."""
    braket = server.client("braket")
    deadline = time.monotonic() + timeout
    while True:
        job = braket.get_job(jobArn=arn)
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def job_log(server: LiveServer, arn: str) -> str:
    """The job's log, as ``hybridjobs logs`` prints it."""
    return str(ok("logs", arn, "--region", "us-west-2", endpoint=server.url).stdout)


def wait_until_ready(server: LiveServer, arn: str, timeout: float = 300) -> None:
    """Return once the job's ``sleep`` instance has printed ``CONTAINER-READY``."""
    deadline = time.monotonic() + timeout
    while "CONTAINER-READY" not in job_log(server, arn):
        assert time.monotonic() < deadline, job_log(server, arn)
        time.sleep(0.2)


def reported_worlds(log: str) -> list[dict[str, Any]]:
    """What each instance of ``inside.py`` reported (its ``CONTAINER-INFO`` lines)."""
    return [
        json.loads(line.split("CONTAINER-INFO ", 1)[1])
        for line in log.splitlines()
        if "CONTAINER-INFO " in line
    ]


def assert_ran_in_the_test_image(infos: list[dict[str, Any]], hosts: list[str]) -> None:
    """Each instance ran on the test image's interpreter at container paths, with its own
    host name, and did not see the host path it was given to look for."""
    assert sorted(info["hostname"] for info in infos) == hosts, infos
    for info in infos:
        assert info["os"].startswith("Debian GNU/Linux 12"), info
        assert info["executable"] == "/usr/bin/python3", info  # the image's interpreter
        assert info["cwd"].startswith("/opt/ml/code/"), info
        assert info["hyperparameters_file"] == "/opt/ml/input/config/hyperparameters.json"
        assert info["braket_alias"], info
        assert not info["host_path_visible"], f"the data directory is visible: {info}"
