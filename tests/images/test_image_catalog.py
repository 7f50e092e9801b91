"""Image URIs -> environments: every URI retrieve_image returns, operator mappings, specs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from braket.jobs.image_uris import Framework, _config_for_framework, retrieve_image

from hybridjobs.environments.catalog import ImageCatalog, mapped_name
from hybridjobs.environments.images import (
    BUILTIN_ENVIRONMENTS,
    KEY_PACKAGES,
    builtin_environment,
    parse_image_uri,
    spec_text,
)

EXPECTED = {
    Framework.BASE: "base",
    Framework.PL_PYTORCH: "pytorch",
    Framework.PL_TENSORFLOW: "tensorflow",
    Framework.CUDAQ: "cudaq",
}
SERVICE_PYTHON = "/service/bin/python"
PINNED = re.compile(r"[A-Za-z0-9_.\-\[\]]+(==[A-Za-z0-9_.+]+)?")


def sdk_uris() -> list[tuple[Framework, str]]:
    """Every (framework, URI) the installed SDK's retrieve_image returns."""
    return [
        (framework, retrieve_image(framework, region))
        for framework in Framework
        for region in _config_for_framework(framework)["supported_regions"]
    ]


def test_every_sdk_image_uri_has_its_environment() -> None:
    uris = sdk_uris()
    assert {framework for framework, _ in uris} == set(EXPECTED), "a new SDK framework"
    for framework, uri in uris:
        assert builtin_environment(uri) == EXPECTED[framework], uri


@pytest.mark.parametrize(
    "suffix",
    [":latest", ":1.0-cpu-py311-ubuntu22.04", "", "@sha256:" + "ab" * 32],
)
def test_tags_digests_and_regions_are_one_environment(suffix: str) -> None:
    for region in ("us-east-1", "eu-north-1", "ap-southeast-2", "cn-north-1"):
        host = f"292282985366.dkr.ecr.{region}.amazonaws.com"
        if region.startswith("cn-"):
            host += ".cn"
        uri = f"{host}/amazon-braket-pytorch-jobs{suffix}"
        assert builtin_environment(uri) == "pytorch", uri


def test_other_registries_and_repositories_are_not_builtin() -> None:
    assert (
        builtin_environment(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/amazon-braket-base-jobs:latest"
        )
        is None
    )
    assert (
        builtin_environment("292282985366.dkr.ecr.us-east-1.amazonaws.com/amazon-braket-x-jobs:1")
        is None
    )
    assert builtin_environment("docker.io/library/python:3.11") is None
    assert parse_image_uri("not an image") is None


def test_every_environment_has_a_pinned_spec() -> None:
    assert set(BUILTIN_ENVIRONMENTS.values()) == set(KEY_PACKAGES)
    for name in KEY_PACKAGES:
        lines = [
            line.split("#", 1)[0].strip()
            for line in spec_text(name).splitlines()
            if line.split("#", 1)[0].strip()
        ]
        assert any(line.lower().startswith("amazon-braket-sdk==") for line in lines), name
        for line in lines:
            assert PINNED.fullmatch(line), f"{name}: {line!r}"
        unpinned = [line for line in lines if "==" not in line]
        assert unpinned in ([], ["mpi4py"]), f"{name}: unpinned {unpinned}"
    assert "torch==" in spec_text("pytorch") and "tensorflow==" in spec_text("tensorflow")
    assert "cuda-quantum-cu12==" in spec_text("cudaq")


def test_resolution_order(tmp_path: Path) -> None:
    base_uri = retrieve_image(Framework.BASE, "us-west-2")
    torch_uri = retrieve_image(Framework.PL_PYTORCH, "us-west-2")
    mine = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:2"
    configured = "123456789012.dkr.ecr.us-east-1.amazonaws.com/configured:1"
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    catalog = ImageCatalog(tmp_path / "envs", SERVICE_PYTHON, {configured: str(venv)})

    none = catalog.resolve(None)
    assert none is not None and (none.kind, none.python) == ("service", SERVICE_PYTHON)
    base = catalog.resolve(base_uri)
    assert base is not None and (base.kind, base.python) == ("service", SERVICE_PYTHON)
    torch_env = catalog.resolve(torch_uri)
    assert torch_env is not None and torch_env.kind == "spec"
    assert torch_env.python == str(tmp_path / "envs" / "pytorch" / "bin" / "python")
    assert torch_env.requirements == spec_text("pytorch")
    assert catalog.resolve(configured) is not None
    assert catalog.resolve(configured).python == str(venv / "bin" / "python")  # type: ignore[union-attr]

    assert catalog.resolve(mine) is None
    problem = catalog.problem(mine)
    assert problem is not None and "containerImage.uri" in problem
    assert "hybridjobs images add" in problem and mine in problem

    catalog.add(mine, requirements="six==1.16.0\n")
    mapped = catalog.resolve(mine)
    assert mapped is not None and mapped.kind == "spec" and mapped.name == mapped_name(mine)
    assert mapped.requirements == "six==1.16.0\n" and catalog.problem(mine) is None
    # The operator may map a Braket image too: the mapping wins over the shipped spec.
    catalog.add(base_uri, python="/opt/other/bin/python")
    remapped = catalog.resolve(base_uri)
    assert remapped is not None and remapped.python == "/opt/other/bin/python"
    # A second catalog (another process) sees the mappings.
    assert ImageCatalog(tmp_path / "envs", SERVICE_PYTHON).resolve(mine) == mapped


def test_add_refuses_what_is_not_a_mapping(tmp_path: Path) -> None:
    catalog = ImageCatalog(tmp_path, SERVICE_PYTHON)
    with pytest.raises(ValueError, match="not a container image URI"):
        catalog.add("no image here", python="/usr/bin/python3")
    with pytest.raises(ValueError, match="exactly one"):
        catalog.add("123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1")
    assert catalog.mappings() == {}


def test_a_failed_build_leaves_nothing_and_says_why(tmp_path: Path) -> None:
    import sys

    from hybridjobs.environments.build import EnvironmentBuildError, ensure_built, is_built

    catalog = ImageCatalog(tmp_path / "envs", sys.executable)
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/broken:1"
    catalog.add(uri, requirements="this is === not a requirement\n")
    environment = catalog.resolve(uri)
    assert environment is not None and not is_built(environment)
    with pytest.raises(EnvironmentBuildError, match="uv pip install failed") as raised:
        ensure_built(environment, sys.executable, tmp_path / "uv-cache")
    assert "this is === not a requirement" in str(raised.value)
    assert sorted(p.name for p in (tmp_path / "envs").iterdir()) == [
        f".{environment.name}.lock",
        "images.json",
    ]
