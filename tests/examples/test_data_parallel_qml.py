"""examples/data_parallel_qml: data-parallel training on 1 and 2 instances."""

from __future__ import annotations

import importlib.util
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.cli import EXAMPLES, job_of, ok, saved_results
from support.server import LiveServer

from hybridjobs.objects.base import parse_s3_uri

EXAMPLE = EXAMPLES / "data_parallel_qml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("make_dataset", EXAMPLE / "make_dataset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path: Path = module.make_dataset(tmp_path_factory.mktemp("dp") / "dataset.csv", 120)
    return path


def _train(
    server: LiveServer, tmp_path: Path, dataset: Path, instances: int, *extra: str
) -> tuple[str, Any]:
    name = f"dp-{instances}-{uuid.uuid4().hex[:8]}"
    ok(
        "run",
        str(EXAMPLE),
        "--entry-point",
        "train:main",
        "--device",
        "local:pennylane/default.qubit",
        "--data-parallel",
        "--instances",
        str(instances),
        "--input",
        f"train={dataset}",
        "--hp",
        "epochs=8",
        *extra,
        "--name",
        name,
        endpoint=server.url,
    )
    return name, saved_results(name, server.url, tmp_path / name)


def test_one_then_two_instances(server: LiveServer, dataset: Path, tmp_path: Path) -> None:
    _, one = _train(server, tmp_path, dataset, 1)
    assert one["world_size"] == 1 and one["samples"] == 120
    assert one["loss_curve"][-1] < one["loss_curve"][0]

    name, two = _train(
        server, tmp_path, dataset, 2, "--hp", f"baseline_seconds={one['training_seconds']}"
    )
    assert two["world_size"] == 2 and two["samples"] == 120
    assert two["saved_by"] == "algo-1"
    assert two["speedup_is"] == "measured" and two["speedup_vs_1_instance"] > 0
    # Averaged gradients over the shards are the full-batch gradient: same training curve.
    assert two["loss_curve"] == pytest.approx(one["loss_curve"], rel=1e-6, abs=1e-5)

    # Only algo-1 saved anything: the results archive holds its results.json alone.
    bucket, key = parse_s3_uri(job_of(name, server.url)["outputDataConfig"]["s3Path"])
    archive = server.data_dir / "objects" / bucket / key / "output" / "model.tar.gz"
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["results.json"]
