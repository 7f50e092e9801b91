"""Image environments on cluster nodes: what an instance's plan carries, and how the node
finds or builds the interpreter from it.

The service resolves the job's image with its :class:`~.catalog.ImageCatalog` (operator
mappings included; an unknown image never gets this far: CreateJob refuses it) and puts
:func:`plan_environment` of the result into each instance's plan. On the node, the
instance's agent calls :func:`node_interpreter`:

* ``service``: the node's own interpreter (the one the agent runs on), as today;
* ``python``: that interpreter path *on the node* (a virtualenv directory means its
  ``bin/python``); a path the node lacks fails the job, naming the image and the node;
* ``spec``: a virtualenv built with uv from the carried requirements, once per node
  machine, under :func:`node_environments_dir` (``HYBRIDJOBS_NODE_ENVIRONMENTS_DIR`` in the
  node's environment, else ``<tmp>/hybridjobs-agent/environments``), with uv's cache
  where the node's ``UV_CACHE_DIR`` says (uv's default otherwise). The build runs under
  the file lock of :func:`~.build.ensure_built`: several instances of a job on one node,
  or nodes sharing a machine, build it once. A failed build fails the job with uv's
  message, naming the image and the node.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from hybridjobs.environments.build import (
    Cancelled,
    EnvironmentBuildError,
    ensure_built,
    is_built,
)
from hybridjobs.environments.catalog import Environment, interpreter_of

ENVIRONMENTS_DIR_VARIABLE = "HYBRIDJOBS_NODE_ENVIRONMENTS_DIR"
"""The node's variable naming where it builds image environments."""


def plan_environment(environment: Environment) -> dict[str, str]:
    """The JSON form of ``environment`` that travels in a plan: ``{"name", "kind",
    "python", "requirements"}`` (``python`` is empty for ``service`` and ``spec``: the
    node decides those paths)."""
    python = environment.python if environment.kind == "python" else ""
    return {
        "name": environment.name,
        "kind": environment.kind,
        "python": python,
        "requirements": environment.requirements if environment.kind == "spec" else "",
    }


def node_environments_dir() -> Path:
    """Where this node builds image environments (see the module docstring)."""
    configured = os.environ.get(ENVIRONMENTS_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "hybridjobs-agent" / "environments"


def node_interpreter(
    environment: Mapping[str, str],
    node_python: str,
    *,
    image: str,
    node: str,
    say: Callable[[str], None] = lambda _message: None,
    cancelled: Cancelled = lambda: False,
) -> str:
    """The interpreter an instance of ``environment`` (a :func:`plan_environment`) runs on
    here; ``node_python`` is the node's own. Builds a ``spec`` environment when it is not
    built yet (``say`` announces it in the instance's log; ``cancelled`` gives the build
    up: ``BuildCancelled``). ``EnvironmentBuildError`` naming ``image`` and ``node`` when
    the interpreter is missing or cannot be built."""
    kind = environment.get("kind") or "service"
    name = environment.get("name") or "base"
    if kind == "service":
        return node_python
    if kind == "python":
        python = interpreter_of(environment.get("python", ""))
        if not python or not os.access(python, os.X_OK):
            raise EnvironmentBuildError(
                f"image {image} runs on {python or 'no interpreter'}, which node {node} "
                "does not have (map the image to an interpreter every node has)"
            )
        return python
    if kind != "spec":
        raise EnvironmentBuildError(f"image {image}: unknown environment kind {kind!r}")
    root = node_environments_dir() / name
    built = Environment(
        name, "spec", str(root / "bin" / "python"), environment.get("requirements", ""), root
    )
    if not is_built(built):
        say(
            f"hybridjobs: building the environment {name!r} of image {image} on node {node} "
            "(first use on this node)"
        )
    uv_cache = os.environ.get("UV_CACHE_DIR")
    try:
        return ensure_built(built, node_python, Path(uv_cache) if uv_cache else None, cancelled)
    except (EnvironmentBuildError, OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentBuildError(
            f"the environment {name!r} of image {image} cannot be built on node {node}: {exc}"
        ) from exc


def requirements_cache(work_dir: Path, python: str) -> Path:
    """The node's cache of job requirements installed for ``python``, an image
    environment's interpreter (packages differ by interpreter):
    ``work_dir/cache/environment-requirements/<hash of its path>``, as
    :func:`hybridjobs.scheduler.launchplan.requirements_cache` names them (not imported:
    the node's agent stays free of the service's modules). The node's own interpreter
    keeps ``work_dir/cache/requirements``."""
    tag = hashlib.sha256(str(Path(python).resolve()).encode()).hexdigest()[:12]
    return work_dir / "cache" / "environment-requirements" / tag
