"""The ECR surface (json protocol): BatchGetImage and GetAuthorizationToken.

``@hybrid_job`` checks at decoration time that the job's image runs the caller's Python
(spec §3.4): it asks BatchGetImage for the image's tag (``latest``), then for every tag of
that digest, and reads ``-py<major><minor>-`` from the first tag that has one. hybridjobs
runs the Braket images' jobs with a local interpreter (the service's own, or the one
``HYBRIDJOBS_IMAGE_INTERPRETERS`` maps the image URI to), so each Braket repository
(``amazon-braket-<framework>-jobs`` in registry 292282985366) answers with one image whose
tags carry *that interpreter's* version, for example ``1.0-cpu-py311-ubuntu22.04``.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hybridjobs.errors import ServiceError
from hybridjobs.wire.jsonrpc import JsonProtocolService
from hybridjobs.wire.messages import WireRequest

BRAKET_REGISTRY = "292282985366"
_BRAKET_REPOSITORY = re.compile(r"amazon-braket-[a-z0-9-]+-jobs")
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
TOKEN_LIFETIME = datetime.timedelta(hours=12)

PythonVersion = tuple[int, int]


class InvalidParameterException(ServiceError):
    code = "InvalidParameterException"
    status = 400
    sender_fault = True


class RepositoryNotFoundException(ServiceError):
    code = "RepositoryNotFoundException"
    status = 400
    sender_fault = True


class InterpreterVersions:
    """The Python version a job on a given image runs with (cached per interpreter).

    ``image_interpreters`` maps image URIs to a python executable or a virtualenv
    directory; other images run on ``default_python``. An interpreter other than the
    service's own is asked once (``python -c``); one that cannot be run counts as the
    service's own version.
    """

    def __init__(self, default_python: str, image_interpreters: Mapping[str, str]) -> None:
        self.default_python = default_python
        self.image_interpreters = dict(image_interpreters)

    def for_image(self, image_uri: str) -> PythonVersion:
        configured = self.image_interpreters.get(image_uri)
        python = self.default_python
        if configured:
            path = Path(configured)
            python = str(path / "bin" / "python") if path.is_dir() else configured
        return _version_of(python)


@functools.cache
def _version_of(python: str) -> PythonVersion:
    own = (sys.version_info.major, sys.version_info.minor)
    if Path(python).resolve() == Path(sys.executable).resolve():
        return own
    try:
        output = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(output[0]), int(output[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return own


def image_tags(version: PythonVersion) -> list[str]:
    """The tags every Braket image answers with: ``latest`` and a versioned tag."""
    major, minor = version
    return ["latest", f"1.0-cpu-py{major}{minor}-ubuntu22.04"]


def image_digest(repository: str, version: PythonVersion) -> str:
    """A stable digest for the repository's image on ``version``."""
    material = f"hybridjobs:{repository}:py{version[0]}{version[1]}".encode()
    return "sha256:" + hashlib.sha256(material).hexdigest()


def _manifest(repository: str, version: PythonVersion) -> str:
    config = hashlib.sha256(f"config:{repository}:{version}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 0,
                "digest": f"sha256:{config}",
            },
            "layers": [],
        }
    )


class EcrService(JsonProtocolService):
    """ECR on the shared port: the Braket job images, described, never pulled."""

    def __init__(self, versions: Callable[[str], PythonVersion]) -> None:
        super().__init__(
            "ecr",
            {
                "BatchGetImage": self.batch_get_image,
                "GetAuthorizationToken": self.get_authorization_token,
            },
            invalid_parameter=InvalidParameterException,
        )
        self.versions = versions

    def batch_get_image(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """Each requested tag or digest of a Braket repository, as the one image it has.

        A tag gives that tag's image (every tag names the same image); the image's digest
        gives it once per tag (``latest`` and ``…-py3XX-…``); any other digest is an
        ``ImageNotFound`` failure. Other repositories are RepositoryNotFoundException.
        """
        registry = params.get("registryId", BRAKET_REGISTRY)
        repository = params["repositoryName"]
        if registry != BRAKET_REGISTRY or not _BRAKET_REPOSITORY.fullmatch(repository):
            raise RepositoryNotFoundException(
                f"The repository with name '{repository}' does not exist in the registry "
                f"with id '{registry}'. hybridjobs serves only the Braket job images."
            )
        uri = f"{registry}.dkr.ecr.{request.region}.amazonaws.com/{repository}:latest"
        version = self.versions(uri)
        digest = image_digest(repository, version)
        manifest = _manifest(repository, version)
        images: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []

        def image(tag: str) -> dict[str, Any]:
            return {
                "registryId": registry,
                "repositoryName": repository,
                "imageId": {"imageDigest": digest, "imageTag": tag},
                "imageManifest": manifest,
                "imageManifestMediaType": MANIFEST_MEDIA_TYPE,
            }

        for image_id in params["imageIds"]:
            tag, wanted = image_id.get("imageTag"), image_id.get("imageDigest")
            if wanted is not None and wanted != digest:
                failures.append(_failure(image_id, "ImageNotFound", "Requested image not found"))
            elif tag is not None:
                images.append(image(tag))
            elif wanted is not None:
                images.extend(image(t) for t in image_tags(version))
            else:
                failures.append(_failure(image_id, "MissingDigestAndTag", "Missing digest and tag"))
        return {"images": images, "failures": failures}

    def get_authorization_token(
        self, request: WireRequest, params: dict[str, Any]
    ) -> dict[str, Any]:
        """A docker-login token per registry asked for (default: the Braket registry).

        Nothing can be pulled with it: hybridjobs runs job images as local interpreters."""
        expires = datetime.datetime.now(tz=datetime.UTC) + TOKEN_LIFETIME
        token = base64.b64encode(b"AWS:hybridjobs").decode("ascii")
        registries = params.get("registryIds") or [BRAKET_REGISTRY]
        return {
            "authorizationData": [
                {
                    "authorizationToken": token,
                    "expiresAt": expires,
                    "proxyEndpoint": f"https://{r}.dkr.ecr.{request.region}.amazonaws.com",
                }
                for r in registries
            ]
        }


def _failure(image_id: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    return {"imageId": image_id, "failureCode": code, "failureReason": reason}
