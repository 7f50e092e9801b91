"""Calling a container runtime's client (``podman``, ``docker``): its environment, bounded
commands, and removing a container.

Only the standard library: :mod:`hybridjobs.runners.local` stops containers with it, and
:mod:`hybridjobs.environments.containers` checks and pulls images with it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

QUERY_TIMEOUT_SECONDS = 60.0
"""The longest a runtime command other than a pull may take."""
RUNTIME_VARIABLES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "CONTAINERS_CONF",
    "CONTAINERS_STORAGE_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINER_HOST",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
)
"""The service's variables the runtime's client itself needs (where its socket, storage
and configuration are); they reach the client, never the container."""


def runtime_environment() -> dict[str, str]:
    """The variables a runtime client runs with (:data:`RUNTIME_VARIABLES` that are set)."""
    return {name: os.environ[name] for name in RUNTIME_VARIABLES if name in os.environ}


def run_runtime(
    argv: list[str], timeout: float = QUERY_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run a runtime command to its end (``subprocess.TimeoutExpired`` after ``timeout``
    seconds, ``OSError`` when it cannot start); output captured."""
    return subprocess.run(
        argv,
        env=runtime_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def is_podman(runtime: str) -> bool:
    """Whether the runtime's client is Podman (else Docker's command line)."""
    return os.path.basename(runtime).startswith("podman")


def remove_container(runtime: str, name: str) -> None:
    """Kill and remove container ``name`` at once, if it exists (best effort, bounded)."""
    force = [runtime, "rm", "--force"]
    if is_podman(runtime):
        force += ["--time", "0"]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        run_runtime([*force, name])
