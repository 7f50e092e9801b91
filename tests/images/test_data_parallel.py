"""SageMaker data parallelism: AWS's data-parallel QML example, our own equivalent
(same ``smdistributed`` calls), on 1 and 2 CPU instances (gloo)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import CLI_SERVER_ENV, ok, saved_results
from support.server import LiveServer, start_server

JOB = Path(__file__).with_name("dp_job")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("dp-server"), env=CLI_SERVER_ENV)
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def _train(server: LiveServer, tmp_path: Path, instances: int) -> tuple[str, dict[str, Any]]:
    name = f"smddp-{instances}-{uuid.uuid4().hex[:8]}"
    ok(
        "run",
        str(JOB),
        "--entry-point",
        "qml_dp:main",
        "--data-parallel",
        "--instances",
        str(instances),
        "--instance-type",
        "ml.m5.large",
        "--device",
        "local:pennylane/default.qubit",
        "--name",
        name,
        endpoint=server.url,
        timeout=300,
    )
    return name, saved_results(name, server.url, tmp_path / name)


def test_one_and_two_instances_train_alike(server: LiveServer, tmp_path: Path) -> None:
    _, one = _train(server, tmp_path, 1)
    name, two = _train(server, tmp_path, 2)
    assert one["world_size"] == 1 and one["samples_per_rank"] == 64
    assert two["world_size"] == 2 and two["samples_per_rank"] == 32
    for curve in (one["loss_curve"], two["loss_curve"]):
        assert curve[-1] < 0.5 * curve[0], curve
    # Averaged gradients over two halves are the full-batch gradient: the same curve.
    assert two["loss_curve"] == pytest.approx(one["loss_curve"], rel=1e-4, abs=1e-6)
    log = ok("logs", name, endpoint=server.url).stdout
    assert "rank 0 of 2 (local rank 0)" in log and "rank 1 of 2 (local rank 0)" in log
