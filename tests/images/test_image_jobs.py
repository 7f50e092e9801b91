"""Jobs on images: an unknown image is refused, an operator-mapped interpreter runs the
job, and an image mapped to requirements is built for real with uv (the one environment
this suite builds, cached in pytest's cache directory) and keeps its pins."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.braket import expect_error
from support.cli import CLI_SERVER_ENV, hybridjobs, job_of, ok
from support.jobs import create_job_request
from support.server import LiveServer, start_server

HERE = Path(__file__).parent
MINE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-six:1"
PLAIN = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hybridjobs-test-plain:1"
PINS = "six==1.16.0\n"


@pytest.fixture(scope="module")
def environments(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built environments and uv's cache, kept between test sessions (pytest's cache)."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("hybridjobs-images"))
    return tmp_path_factory.mktemp("hybridjobs-images")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, environments: Path) -> Iterator[LiveServer]:
    env = {
        **CLI_SERVER_ENV,
        "HYBRIDJOBS_ENVIRONMENTS_DIR": str(environments / "environments"),
        "HYBRIDJOBS_UV_CACHE_DIR": str(environments / "uv-cache"),
    }
    live = start_server(tmp_path_factory.mktemp("images-server"), env=env)
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def images(environments: Path, *args: str) -> Any:
    """``hybridjobs images ARGS`` on the suite's environments and uv cache."""
    return hybridjobs(
        "images",
        *args,
        "--environments-dir",
        str(environments / "environments"),
        endpoint=None,
        timeout=600,
        env={"HYBRIDJOBS_UV_CACHE_DIR": str(environments / "uv-cache")},
    )


def run_job(server: LiveServer, source: str, image: str, expect_ok: bool = True) -> tuple[str, str]:
    name = f"image-{uuid.uuid4().hex[:8]}"
    result = hybridjobs(
        "run",
        str(HERE / source),
        "--entry-point",
        "which_python",
        "--image",
        image,
        "--name",
        name,
        endpoint=server.url,
        timeout=600,
    )
    assert (result.returncode == 0) == expect_ok, result.stdout + result.stderr
    return name, ok("logs", name, endpoint=server.url).stdout


def warm_pool_status(server: LiveServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/_hybridjobs/status", timeout=30) as response:
        pool: dict[str, Any] = json.load(response)["warm_pool"]
    return pool


def wait_for_environment_pool(server: LiveServer, python: str) -> dict[str, Any]:
    """The status of ``python``'s warm pool once it has a ready zygote (polled: the
    status route can only wait for the service's own pool)."""
    deadline = time.monotonic() + 120
    while True:
        pool: dict[str, Any] = warm_pool_status(server).get("environments", {}).get(python, {})
        if pool.get("ready", 0) >= 1 or time.monotonic() > deadline:
            return pool
        time.sleep(0.2)


def info_of(log: str) -> dict[str, Any]:
    line = next(line for line in log.splitlines() if "IMAGE-INFO " in line)
    info: dict[str, Any] = json.loads(line.split("IMAGE-INFO ", 1)[1])
    return info


def test_unknown_image_is_refused_with_how_to_map_it(server: LiveServer) -> None:
    braket = server.client("braket")
    request = create_job_request(
        algorithmSpecification={
            "containerImage": {
                "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/nobody-mapped:3"
            }
        }
    )
    error = expect_error(lambda: braket.create_job(**request), "ValidationException", 400)
    message = error["Error"]["Message"]
    assert "algorithmSpecification.containerImage.uri" in message
    assert "hybridjobs images add URI --requirements FILE" in message


def test_operator_maps_an_existing_interpreter(server: LiveServer, environments: Path) -> None:
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    assert base.exists(), base
    added = images(environments, "add", PLAIN, "--python", str(base))
    assert added.returncode == 0, added.stdout + added.stderr
    _, log = run_job(server, "image_job", PLAIN)
    info = info_of(log)
    assert info["executable"] == str(base) and info["prefix"] == info["base_prefix"]
    refused = images(environments, "add", "not an image", "--python", str(base))
    assert refused.returncode == 2 and "not a container image URI" in refused.stderr


def test_requirements_image_is_built_and_keeps_its_pins(
    server: LiveServer, environments: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "requirements.txt"
    spec.write_text(PINS)
    assert images(environments, "add", MINE, "--requirements", str(spec)).returncode == 0
    built = images(environments, "build", MINE)
    assert built.returncode == 0, built.stdout + built.stderr
    listed = json.loads(images(environments, "--json").stdout)
    row = next(row for row in listed if row["image"] == MINE)
    assert row["state"] == "built" and row["size_bytes"] > 0

    _, log = run_job(server, "image_job", MINE)
    info = info_of(log)
    assert info["six"] == "1.16.0" and info["prefix"] == str(Path(row["python"]).parent.parent)

    # That first instance started the environment's own warm pool; the next one forks.
    pool = wait_for_environment_pool(server, row["python"])
    assert pool["ready"] >= 1, pool
    warm_before = warm_pool_status(server)["launches"]["warm"]
    # A job's requirements.txt asking for `six` gets the image's six, not the newest.
    _, log = run_job(server, "pinned_job", MINE)
    assert warm_pool_status(server)["launches"]["warm"] == warm_before + 1
    assert "Installing with the image's pins" in log
    assert info_of(log)["six"] == "1.16.0"

    # Asking for another version is the job's failure, with pip's own words.
    name, log = run_job(server, "conflict_job", MINE, expect_ok=False)
    job = job_of(name, server.url)
    assert job["status"] == "FAILED"
    assert "Unable to install requirements" in job["failureReason"], job["failureReason"]
    assert "ResolutionImpossible" in log or "conflict" in log.lower()
    assert "ERROR" in log and "six" in log
