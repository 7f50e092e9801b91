"""Instances as real containers: ``podman run`` / ``docker run`` of the image's container.

For an image the operator mapped with ``hybridjobs images add URI --container IMAGE``,
:class:`ContainerLauncher` starts each instance's process as the runtime's client running
a container of ``IMAGE`` in the foreground. The container sees what a sandboxed instance
sees (:class:`~hybridjobs.sandbox.box.InstanceBox`): its instance directory at ``/opt/ml``
and ``/opt/braket``, the box's other binds (a checkpoint directory outside ``/opt/ml``,
the requirements cache), its GPUs' device nodes, the host name ``algo-N``, no
capabilities and no new privileges; and the host's network, as a sandboxed instance does, so it reaches the service's API and the job's other
instances over loopback. The ``hybridjobs`` package is mounted read-only at
:data:`PACKAGE_ROOT` for the bootstrap (standard library only, so any Python 3.11+ in the
image runs it), and ``--init`` keeps the bootstrap out of PID 1, where signals without a
handler do nothing.

The job's variables reach the container by name (``--env NAME``: values never appear in a
command line); the client itself runs with the service's runtime variables
(:data:`~hybridjobs.runners.containerruntime.RUNTIME_VARIABLES`) and the job's. Stopping:
the client forwards SIGTERM to the container; SIGKILL ends the client only, so
:meth:`~hybridjobs.runners.local.InstanceHandle.kill_all` also removes the container by
name. The client's exit code is the container's.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import hybridjobs
from hybridjobs.runners.containerruntime import is_podman, run_runtime, runtime_environment
from hybridjobs.runners.local import InstanceHandle, launch
from hybridjobs.sandbox.box import CONTAINER_ALIAS, CONTAINER_ROOT, InstanceBox

PACKAGE_ROOT = "/opt/hybridjobs/lib"
"""The directory on the container's ``PYTHONPATH`` that holds the ``hybridjobs`` package."""
HOST_ONLY = frozenset({"PATH", "HOME", "TMPDIR", "USER", "LOGNAME"})
"""Instance variables that name the host's paths and user: the image keeps its own."""
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def container_name(box: InstanceBox) -> str:
    """The container's name: unique per instance among the service's instances."""
    return "hybridjobs-" + _UNSAFE.sub("-", box.name).strip("-.")


def container_environment(env: Mapping[str, str], package_dir: Path) -> dict[str, str]:
    """The instance's variables as the container gets them: host-only ones dropped, paths
    into the ``hybridjobs`` package (the data-parallel shims) moved to :data:`PACKAGE_ROOT`,
    which ``PYTHONPATH`` ends with."""
    inside = f"{PACKAGE_ROOT}/hybridjobs"
    moved = {
        name: value.replace(str(package_dir), inside)
        for name, value in env.items()
        if name not in HOST_ONLY
    }
    moved["PYTHONPATH"] = os.pathsep.join(filter(None, [moved.get("PYTHONPATH"), PACKAGE_ROOT]))
    return moved


def run_command(
    runtime: str,
    image: str,
    box: InstanceBox,
    names: Sequence[str],
    argv: Sequence[str],
    package_dir: Path,
) -> list[str]:
    """The client's command that runs ``argv`` in a container of ``image`` laid out as
    ``box``, with the variables ``names`` passed on from the client's environment."""
    command = [runtime, "run", "--rm", "--init", "--name", container_name(box)]
    command += ["--cap-drop", "all", "--security-opt", "no-new-privileges"]
    command += ["--pull", "never", "--log-driver", "none", "--network", "host"]
    command += ["--hostname", box.host, "--workdir", CONTAINER_ROOT]
    command += ["--volume", f"{box.instance_dir}:{CONTAINER_ROOT}"]
    command += ["--volume", f"{box.instance_dir}:{CONTAINER_ALIAS}"]
    command += ["--volume", f"{package_dir}:{PACKAGE_ROOT}/hybridjobs:ro"]
    for bind in box.binds:
        command += ["--volume", f"{bind.host}:{bind.container}{'' if bind.writable else ':ro'}"]
    for device in box.devices:
        if device.exists():
            command += ["--device", str(device)]
    if os.geteuid() == 0:  # a rootless runtime on cgroup v1 cannot set limits
        if box.memory_bytes is not None:
            command += ["--memory", str(box.memory_bytes)]
        if box.pids_max is not None:
            command += ["--pids-limit", str(box.pids_max)]
    elif not is_podman(runtime):  # files in /opt/ml stay the service user's
        command += ["--user", f"{os.getuid()}:{os.getgid()}"]
    for name in sorted(names):
        command += ["--env", name]
    command += ["--entrypoint", argv[0], image, *argv[1:]]
    return command


class ContainerLauncher:
    """A :class:`~hybridjobs.scheduler.context.Launcher` for one job whose image runs as
    a real container (see the module docstring): ``runtime`` is the client's path,
    ``image`` the container image. Instances always see container paths."""

    isolates = True

    def __init__(self, runtime: str, image: str, *, die_with_parent: bool = False) -> None:
        self.runtime = runtime
        self.image = image
        self.die_with_parent = die_with_parent
        self.package_dir = Path(hybridjobs.__file__).resolve().parent

    def find_command(self, name: str) -> str | None:
        """Where ``name`` (``mpirun``) is in the image, as its ``sh`` finds it on the
        image's ``PATH``; ``None`` when it is not there (or the image has no ``sh``, or
        the runtime cannot start a container of it). Runs a throwaway container with no
        network and no capabilities."""
        command = [self.runtime, "run", "--rm", "--pull", "never", "--network", "none"]
        command += ["--cap-drop", "all", "--security-opt", "no-new-privileges"]
        command += ["--log-driver", "none", "--entrypoint", "sh", self.image]
        command += ["-c", 'command -v "$0"', name]
        try:
            result = run_runtime(command)
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = result.stdout.strip().splitlines()
        return found[-1] if result.returncode == 0 and found else None

    def launch(
        self,
        host: str,
        spec_path: Path,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        python: str,
        box: InstanceBox | None = None,
    ) -> InstanceHandle:
        """Start ``python -m hybridjobs.bootstrap SPEC`` in the container (``python``
        and ``spec_path`` as the container sees them)."""
        argv = [python, "-m", "hybridjobs.bootstrap", str(spec_path)]
        return self.launch_argv(host, argv, env, cwd, log_path, exit_file, box)

    def launch_argv(
        self,
        host: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        box: InstanceBox | None = None,
    ) -> InstanceHandle:
        """Start ``argv`` (the bootstrap, or ``mpirun ...`` from the image) in the
        container laid out as ``box`` (required)."""
        if box is None:
            raise ValueError("an instance runs in a container only with its box")
        inside = container_environment(env, self.package_dir)
        command = run_command(self.runtime, self.image, box, list(inside), argv, self.package_dir)
        handle = launch(
            host,
            command,
            {**inside, **runtime_environment()},
            cwd,
            log_path,
            exit_file,
            die_with_parent=self.die_with_parent,
        )
        handle.container = (self.runtime, container_name(box))
        return handle
