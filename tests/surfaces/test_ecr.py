"""ECR BatchGetImage as ``@hybrid_job`` uses it to read the image's Python version."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from hybridjobs.services.ecr import BRAKET_REGISTRY, EcrService, InterpreterVersions
from surfaces.roundtrip import REGION, Caller, CallError

BASE_REPOSITORY = "amazon-braket-base-jobs"
OWN_VERSION = (sys.version_info.major, sys.version_info.minor)


def ecr_for(versions: InterpreterVersions) -> Caller:
    return Caller(EcrService(versions.for_image))


@pytest.fixture
def ecr() -> Caller:
    return ecr_for(InterpreterVersions(sys.executable, {}))


def full_image_tag(ecr: Caller, repository: str) -> str:
    """What ``AwsSession.get_full_image_tag`` does: tag -> digest -> the tag with ``py3XX``."""
    by_tag = ecr(
        "BatchGetImage",
        registryId=BRAKET_REGISTRY,
        repositoryName=repository,
        imageIds=[{"imageTag": "latest"}],
    )
    digest = by_tag["images"][0]["imageId"]["imageDigest"]
    images = ecr(
        "BatchGetImage",
        registryId=BRAKET_REGISTRY,
        repositoryName=repository,
        imageIds=[{"imageDigest": digest}],
    )["images"]
    tags = [str(image["imageId"]["imageTag"]) for image in images]
    return next(tag for tag in tags if re.search(r"py\d\d+", tag))


@pytest.mark.parametrize(
    "repository",
    [
        BASE_REPOSITORY,
        "amazon-braket-pytorch-jobs",
        "amazon-braket-tensorflow-jobs",
        "amazon-braket-cudaq-jobs",
    ],
)
def test_every_braket_image_runs_the_service_python(ecr: Caller, repository: str) -> None:
    tag = full_image_tag(ecr, repository)
    match = re.search(r"-py(\d)(\d+)-", tag)
    assert match is not None, tag
    assert (int(match[1]), int(match[2])) == OWN_VERSION


def test_an_image_mapped_to_another_interpreter_reports_its_version(tmp_path: Path) -> None:
    other = tmp_path / "python3.9"
    other.write_text("#!/bin/sh\necho 3 9\n")
    other.chmod(0o755)
    uri = f"{BRAKET_REGISTRY}.dkr.ecr.{REGION}.amazonaws.com/{BASE_REPOSITORY}:latest"
    ecr = ecr_for(InterpreterVersions(sys.executable, {uri: str(other)}))
    assert "-py39-" in full_image_tag(ecr, BASE_REPOSITORY)
    assert f"-py{OWN_VERSION[0]}{OWN_VERSION[1]}-" in full_image_tag(
        ecr, "amazon-braket-pytorch-jobs"
    )


def test_unknown_repositories_and_digests(ecr: Caller) -> None:
    with pytest.raises(CallError) as missing:
        ecr("BatchGetImage", repositoryName="my-own-image", imageIds=[{"imageTag": "latest"}])
    assert (missing.value.code, missing.value.status) == ("RepositoryNotFoundException", 400)
    with pytest.raises(CallError) as other_registry:
        ecr(
            "BatchGetImage",
            registryId="123456789012",
            repositoryName=BASE_REPOSITORY,
            imageIds=[{"imageTag": "latest"}],
        )
    assert other_registry.value.code == "RepositoryNotFoundException"

    response = ecr(
        "BatchGetImage",
        repositoryName=BASE_REPOSITORY,
        imageIds=[{"imageDigest": "sha256:" + "0" * 64}],
    )
    assert response["images"] == []
    assert response["failures"][0]["failureCode"] == "ImageNotFound"


def test_authorization_token(ecr: Caller) -> None:
    (data,) = ecr("GetAuthorizationToken")["authorizationData"]
    assert data["proxyEndpoint"] == f"https://{BRAKET_REGISTRY}.dkr.ecr.{REGION}.amazonaws.com"
    assert data["authorizationToken"]
    assert data["expiresAt"].tzinfo is not None
