"""Which environment a job image runs in: the operator's mappings, then the shipped specs.

Resolution of ``algorithmSpecification.containerImage.uri`` (first match wins):

1. no image: the service's own interpreter (today's fast path, warm pool included);
2. ``Settings.image_interpreters[uri]``: a python executable or virtualenv directory;
3. the operator's mappings in ``ENVIRONMENTS_DIR/images.json`` (``hybridjobs images add``):
   ``{"python": PATH}``, ``{"requirements": FILE}`` (an environment built from FILE) or
   ``{"container": IMAGE, "runtime": NAME, "python": PATH}`` (a real container of IMAGE,
   run by Podman or Docker, on the interpreter PATH inside it);
4. a Braket image (any region, tag or digest): the base image runs on the service's own
   interpreter, the PyTorch, TensorFlow and CUDA-Q images in environments built from the
   specs shipped in ``specs/``;
5. anything else is unknown: CreateJob refuses it (:meth:`ImageCatalog.problem`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hybridjobs.environments.images import BASE, builtin_environment, parse_image_uri, spec_text

MAPPINGS_FILE = "images.json"
EnvironmentKind = Literal["service", "python", "spec", "container"]
CONTAINER_PYTHON = "python3"
"""The interpreter a container image's instances run on unless the mapping names one."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Environment:
    """Where a job's instances get their interpreter.

    ``service``: the service's own python; ``python``: an existing interpreter the operator
    named; ``spec``: a virtualenv built under ``root`` from ``requirements``;
    ``container``: a container of ``image`` run by ``runtime`` (``podman``, ``docker``, or
    empty: whichever is installed), ``python`` being the interpreter inside it.
    """

    name: str
    kind: EnvironmentKind
    python: str
    requirements: str = ""
    root: Path | None = None
    image: str = ""
    runtime: str = ""


class ImageCatalog:
    """Maps image URIs to environments (see the module docstring). Thread-safe: the
    mappings file is re-read whenever it changes."""

    def __init__(
        self,
        environments_dir: Path,
        service_python: str,
        image_interpreters: Mapping[str, str] | None = None,
    ) -> None:
        self.environments_dir = Path(environments_dir)
        self.service_python = service_python
        self.image_interpreters = dict(image_interpreters or {})

    # -- operator mappings ----------------------------------------------------------------

    @property
    def mappings_file(self) -> Path:
        return self.environments_dir / MAPPINGS_FILE

    def mappings(self) -> dict[str, dict[str, str]]:
        """The operator's mappings: ``{uri: {"python": PATH} | {"requirements": TEXT,
        "name": NAME} | {"container": IMAGE, "runtime": NAME, "python": PATH}}`` (empty when
        none were added)."""
        try:
            document = json.loads(self.mappings_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in document.items()}

    def add(
        self,
        uri: str,
        *,
        python: str | None = None,
        requirements: str | None = None,
        container: str | None = None,
        runtime: str | None = None,
    ) -> None:
        """Map ``uri`` to an existing interpreter, to requirements, or to a container image
        (``python`` is then the interpreter inside it, default ``python3``; ``runtime``
        ``podman`` or ``docker``, default whichever is installed).

        ``ValueError`` when ``uri`` or ``container`` is no image reference, or the choice
        is not exactly one of an interpreter, requirements and a container."""
        if parse_image_uri(uri) is None and not _looks_like_image(uri):
            raise ValueError(f"{uri!r} is not a container image URI (REGISTRY/REPOSITORY[:TAG])")
        entry: dict[str, str]
        if container is not None:
            if requirements is not None:
                raise ValueError("--requirements cannot be combined with --container")
            if not _looks_like_reference(container):
                raise ValueError(f"--container: {container!r} is not an image reference")
            if runtime not in (None, "", "podman", "docker"):
                raise ValueError(f"--runtime: {runtime!r} is neither podman nor docker")
            entry = {
                "container": container,
                "runtime": runtime or "",
                "python": python or CONTAINER_PYTHON,
                "name": mapped_name(uri),
            }
        elif (python is None) == (requirements is None):
            raise ValueError(
                "give exactly one of --python PATH, --requirements FILE and --container IMAGE"
            )
        elif python is not None:
            entry = {"python": str(python)}
        else:
            assert requirements is not None
            entry = {"requirements": requirements, "name": mapped_name(uri)}
        mappings = self.mappings()
        mappings[uri] = entry
        self.environments_dir.mkdir(parents=True, exist_ok=True)
        staging = self.mappings_file.with_suffix(".tmp")
        staging.write_text(json.dumps(mappings, indent=2, sort_keys=True) + "\n")
        os.replace(staging, self.mappings_file)

    # -- resolution -----------------------------------------------------------------------

    def resolve(self, uri: str | None) -> Environment | None:
        """The environment of image ``uri`` (``None``/empty: the service's own); ``None``
        when the image is unknown."""
        if not uri:
            return Environment(BASE, "service", self.service_python)
        configured = self.image_interpreters.get(uri)
        if configured:
            return Environment(mapped_name(uri), "python", interpreter_of(configured))
        entry = self.mappings().get(uri)
        if entry is not None:
            if "container" in entry:
                return Environment(
                    entry.get("name") or mapped_name(uri),
                    "container",
                    entry.get("python") or CONTAINER_PYTHON,
                    image=entry["container"],
                    runtime=entry.get("runtime", ""),
                )
            if "python" in entry:
                return Environment(mapped_name(uri), "python", interpreter_of(entry["python"]))
            name = entry.get("name") or mapped_name(uri)
            return self._built(name, entry["requirements"])
        builtin = builtin_environment(uri)
        if builtin is None:
            return None
        return self.builtin(builtin)

    def builtin(self, name: str) -> Environment:
        """The shipped environment ``name`` (``KeyError`` when there is none)."""
        if name == BASE:
            return Environment(BASE, "service", self.service_python)
        return self._built(name, spec_text(name))

    def _built(self, name: str, requirements: str) -> Environment:
        root = self.environments_dir / name
        return Environment(name, "spec", str(root / "bin" / "python"), requirements, root)

    def problem(self, uri: str | None) -> str | None:
        """Why CreateJob cannot run image ``uri`` (it is mapped to nothing); else None."""
        if self.resolve(uri) is not None:
            return None
        return (
            f"algorithmSpecification.containerImage.uri: {uri!r} is not an image this "
            "service knows. The Braket images (braket.jobs.image_uris.retrieve_image) run as "
            "they are; map your own image with `hybridjobs images add URI --requirements "
            "FILE` (an environment built from FILE), `hybridjobs images add URI --python "
            "PATH` (an existing interpreter or virtualenv) or `hybridjobs images add URI "
            "--container [IMAGE]` (a real container, where Podman or Docker is installed)"
        )


def interpreter_of(configured: str) -> str:
    """A configured interpreter: a virtualenv directory means its ``bin/python``."""
    path = Path(configured)
    return str(path / "bin" / "python") if path.is_dir() else configured


def mapped_name(uri: str) -> str:
    """A directory name for an operator-mapped image: its repository and a short hash."""
    ref = parse_image_uri(uri)
    base = ref.repository if ref is not None else uri.rsplit("/", 1)[-1].split(":", 1)[0]
    digest = hashlib.sha256(uri.encode()).hexdigest()[:8]
    return f"{_SAFE_NAME.sub('-', base).strip('-.')[:48] or 'image'}-{digest}"


def _looks_like_reference(reference: str) -> bool:
    """A container image reference a runtime accepts: ``[HOST[:PORT]/]NAME[:TAG][@DIGEST]``
    (``localhost/mine:1``, ``python:3.11``, ``123….dkr.ecr….amazonaws.com/repo:tag``)."""
    return bool(
        re.fullmatch(
            r"([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9][a-z0-9._/-]*"
            r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[0-9a-f]{64})?",
            reference,
        )
    )


def _looks_like_image(uri: str) -> bool:
    """Any other registry's ``HOST/REPOSITORY[:TAG]`` (operators may name any image)."""
    return bool(re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+)?", uri))
