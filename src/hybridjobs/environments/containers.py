"""Container runtimes (Podman, Docker) for images the operator runs as real containers.

An image mapped with ``hybridjobs images add URI --container IMAGE`` runs each instance in
a container of ``IMAGE``, started by the runtime's command-line client
(:mod:`hybridjobs.runners.containerlauncher`). This module finds the runtime and makes
sure the image is there (pulled on first use; a runtime that cannot reach its daemon or
registry fails the job with its own message). Every command is bounded by a timeout;
nothing here runs unless such a mapping exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from hybridjobs.environments.build import EnvironmentBuildError
from hybridjobs.environments.catalog import Environment
from hybridjobs.runners.containerruntime import run_runtime

RUNTIMES = ("podman", "docker")
"""The runtimes looked for, in this order, when a mapping names none."""
PULL_TIMEOUT_SECONDS = 1800.0


def find_runtime(name: str = "") -> str | None:
    """The path of runtime ``name`` (``podman``/``docker``), or with no name the first of
    :data:`RUNTIMES` installed; ``None`` when there is none."""
    for candidate in (name,) if name else RUNTIMES:
        found = shutil.which(candidate)
        if found is not None:
            return found
    return None


def runtime_of(environment: Environment, image_uri: str) -> str:
    """The runtime that runs ``environment``'s containers; ``EnvironmentBuildError`` that
    says what to install when it is missing."""
    found = find_runtime(environment.runtime)
    if found is None:
        wanted = environment.runtime or " or ".join(RUNTIMES)
        raise EnvironmentBuildError(
            f"image {image_uri} runs as a container of {environment.image}, but {wanted} "
            "is not installed on the service's machine; install it (Debian: apt-get install "
            "podman) or map the image to an environment with `hybridjobs images add URI "
            "--requirements FILE` or `--python PATH`"
        )
    return found


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[-1] if text else f"exit code {result.returncode}"


def image_present(runtime: str, image: str) -> bool:
    """Whether ``runtime`` has ``image`` locally (``image inspect`` succeeds)."""
    try:
        return run_runtime([runtime, "image", "inspect", image]).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_size(runtime: str, image: str) -> int | None:
    """The bytes ``runtime`` reports for ``image``; ``None`` when it is not there."""
    try:
        result = run_runtime([runtime, "image", "inspect", "--format", "{{.Size}}", image])
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        return int(result.stdout.strip().splitlines()[0]) if result.returncode == 0 else None
    except (ValueError, IndexError):
        return None


def ensure_image(
    environment: Environment,
    image_uri: str,
    say: Callable[[str], None] = lambda _message: None,
) -> str:
    """Make sure ``environment``'s image is there (pulled when it is not; ``say``
    announces the pull); return the runtime. ``EnvironmentBuildError`` with the runtime's
    own message when the runtime is missing or the pull fails."""
    runtime = runtime_of(environment, image_uri)
    if image_present(runtime, environment.image):
        return runtime
    tool = os.path.basename(runtime)
    say(f"Pulling the container image {environment.image} of image {image_uri} with {tool}.")
    try:
        result = run_runtime([runtime, "pull", environment.image], PULL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise EnvironmentBuildError(
            f"{tool} pull {environment.image} did not finish in {PULL_TIMEOUT_SECONDS:.0f} s"
        ) from None
    except OSError as exc:
        raise EnvironmentBuildError(f"{tool} cannot run: {exc}") from exc
    if result.returncode != 0:
        raise EnvironmentBuildError(
            f"the container image {environment.image} of image {image_uri} is not on this "
            f"machine and {tool} pull failed: {_tail(result)}"
        )
    return runtime
