"""Which environment a job image runs in: the operator's mappings, then the shipped specs.

Resolution of ``algorithmSpecification.containerImage.uri`` (first match wins):

1. no image: the service's own interpreter (today's fast path, warm pool included);
2. ``Settings.image_interpreters[uri]``: a python executable or virtualenv directory;
3. the operator's mappings in ``ENVIRONMENTS_DIR/images.json`` (``hybridjobs images add``):
   ``{"python": PATH}`` or ``{"requirements": FILE}`` (an environment built from FILE);
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
EnvironmentKind = Literal["service", "python", "spec"]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Environment:
    """Where a job's instances get their interpreter.

    ``service``: the service's own python; ``python``: an existing interpreter the operator
    named; ``spec``: a virtualenv built under ``root`` from ``requirements``.
    """

    name: str
    kind: EnvironmentKind
    python: str
    requirements: str = ""
    root: Path | None = None


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
        "name": NAME}}`` (empty when none were added)."""
        try:
            document = json.loads(self.mappings_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in document.items()}

    def add(self, uri: str, *, python: str | None = None, requirements: str | None = None) -> None:
        """Map ``uri`` to an existing interpreter or to requirements (exactly one of them).

        ``ValueError`` when ``uri`` is no image URI, or neither or both are given."""
        if parse_image_uri(uri) is None and not _looks_like_image(uri):
            raise ValueError(f"{uri!r} is not a container image URI (REGISTRY/REPOSITORY[:TAG])")
        if (python is None) == (requirements is None):
            raise ValueError("give exactly one of --python PATH and --requirements FILE")
        entry: dict[str, str]
        if python is not None:
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
            "FILE` (an environment built from FILE) or `hybridjobs images add URI --python "
            "PATH` (an existing interpreter or virtualenv)"
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


def _looks_like_image(uri: str) -> bool:
    """Any other registry's ``HOST/REPOSITORY[:TAG]`` (operators may name any image)."""
    return bool(re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+)?", uri))
