"""The command that runs an instance as a container: the box's layout, the job's
variables passed by name only (a secret never appears in a command line), host-only
variables dropped and the package's paths moved to where the container mounts it."""

from __future__ import annotations

from pathlib import Path

from hybridjobs.runners.containerlauncher import (
    PACKAGE_ROOT,
    container_environment,
    container_name,
    run_command,
)
from hybridjobs.sandbox.box import Bind, InstanceBox

PACKAGE = Path("/srv/hybridjobs/src/hybridjobs")


def _box(tmp_path: Path) -> InstanceBox:
    return InstanceBox(
        name="0f3c-job-id-algo-2",
        host="algo-2",
        instance_dir=tmp_path / "algo-2",
        binds=(
            Bind(tmp_path / "checkpoints", "/opt/jobs/checkpoints"),
            Bind(tmp_path / "cache", "/var/cache/hybridjobs/requirements", writable=False),
        ),
        memory_bytes=8 * 2**30,
        pids_max=4096,
    )


def test_variables_reach_the_container_by_name_only(tmp_path: Path) -> None:
    env = {
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
        "PATH": "/root/.pyenv/bin:/usr/bin",
        "HOME": "/root",
        "PYTHONPATH": f"{PACKAGE}/shims",
        "HYBRIDJOBS_INSTANCE_PATHS": f"{PACKAGE}/shims",
        "CURRENT_HOST": "algo-2",
    }
    inside = container_environment(env, PACKAGE)
    assert "PATH" not in inside and "HOME" not in inside  # the image keeps its own
    assert inside["PYTHONPATH"] == f"{PACKAGE_ROOT}/hybridjobs/shims:{PACKAGE_ROOT}"
    assert inside["HYBRIDJOBS_INSTANCE_PATHS"] == f"{PACKAGE_ROOT}/hybridjobs/shims"
    command = run_command(
        "/usr/bin/podman", "localhost/img:1", _box(tmp_path), list(inside), ["python3"], PACKAGE
    )
    assert "s3cr3t-value" not in " ".join(command)
    assert command[command.index("AWS_SECRET_ACCESS_KEY") - 1] == "--env"


def test_the_container_is_laid_out_as_the_box(tmp_path: Path) -> None:
    box = _box(tmp_path)
    argv = ["python3", "-m", "hybridjobs.bootstrap", "/opt/ml/spec.json"]
    command = run_command("/usr/bin/podman", "localhost/img:1", box, [], argv, PACKAGE)
    volumes = [command[i + 1] for i, word in enumerate(command) if word == "--volume"]
    assert volumes == [
        f"{box.instance_dir}:/opt/ml",
        f"{box.instance_dir}:/opt/braket",
        f"{PACKAGE}:{PACKAGE_ROOT}/hybridjobs:ro",
        f"{tmp_path / 'checkpoints'}:/opt/jobs/checkpoints",
        f"{tmp_path / 'cache'}:/var/cache/hybridjobs/requirements:ro",
    ]
    assert command[command.index("--hostname") + 1] == "algo-2"
    assert command[command.index("--name") + 1] == container_name(box)
    assert container_name(box) == "hybridjobs-0f3c-job-id-algo-2"
    assert {"--cap-drop", "all", "--init", "--rm"} <= set(command)
    tail = command[command.index("--entrypoint") :]
    assert tail == ["--entrypoint", "python3", "localhost/img:1", *argv[1:]]
