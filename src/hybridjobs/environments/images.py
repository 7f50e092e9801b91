"""Braket job image URIs and the environment spec shipped for each.

``braket.jobs.image_uris.retrieve_image`` returns
``292282985366.dkr.ecr.<region>.amazonaws.com/amazon-braket-<framework>-jobs:latest``; the
same repositories also carry versioned tags (``1.0-cpu-py310-ubuntu22.04``) and digests.
Every tag, digest and region of one repository is the same environment here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

BRAKET_REGISTRY = "292282985366"
BASE = "base"
"""The base image's environment: by default the service's own interpreter."""

BUILTIN_ENVIRONMENTS: dict[str, str] = {
    "amazon-braket-base-jobs": BASE,
    "amazon-braket-pytorch-jobs": "pytorch",
    "amazon-braket-tensorflow-jobs": "tensorflow",
    "amazon-braket-cudaq-jobs": "cudaq",
}
"""Braket repository -> the environment spec (``specs/<name>.txt``) that reproduces it."""

KEY_PACKAGES: dict[str, tuple[str, ...]] = {
    BASE: ("braket.jobs", "pennylane", "numpy"),
    "pytorch": ("braket.jobs", "pennylane", "torch"),
    "tensorflow": ("braket.jobs", "pennylane", "tensorflow"),
    "cudaq": ("braket.jobs", "cudaq"),
}
"""The modules a job on each image counts on (what ``hybridjobs images build`` checks)."""

_ECR_URI = re.compile(
    r"(?P<registry>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?:\.cn)?/(?P<repository>[a-z0-9][a-z0-9._/-]*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))?"
)


@dataclass(frozen=True)
class ImageRef:
    """The parts of an ECR image URI."""

    registry: str
    region: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image_uri(uri: str) -> ImageRef | None:
    """The parts of ``uri`` when it is an ECR image URI; ``None`` for anything else."""
    match = _ECR_URI.fullmatch(uri.strip())
    if match is None:
        return None
    return ImageRef(
        registry=match["registry"],
        region=match["region"],
        repository=match["repository"],
        tag=match["tag"],
        digest=match["digest"],
    )


def builtin_environment(uri: str) -> str | None:
    """The shipped environment of a Braket image URI (any region, tag or digest); else None."""
    ref = parse_image_uri(uri)
    if ref is None or ref.registry != BRAKET_REGISTRY:
        return None
    return BUILTIN_ENVIRONMENTS.get(ref.repository)


def spec_text(name: str) -> str:
    """The shipped requirements of environment ``name`` (``KeyError`` if there is none)."""
    if name not in KEY_PACKAGES:
        raise KeyError(name)
    return resources.files("hybridjobs.environments").joinpath(f"specs/{name}.txt").read_text()
