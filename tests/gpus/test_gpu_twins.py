"""``--gpu-cpu-twins``: GPU instance types on a host without GPUs, announced everywhere."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import CLI_SERVER_ENV, job_of, ok, saved_results
from support.server import LiveServer, start_server

from hybridjobs.gputwins import INSTALLED

SCRIPT = Path(__file__).with_name("gpu_job.py")


@pytest.fixture(scope="module")
def twins_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A service on a host without GPUs (no nvidia-smi on its PATH) running GPU types on
    CPU twins; the warm pool is on, so the QNode job forks from a zygote."""
    empty = tmp_path_factory.mktemp("no-gpus")
    path = os.pathsep.join(
        [str(empty)]
        + [
            d
            for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not Path(d, "nvidia-smi").exists()
        ]
    )
    live = start_server(
        tmp_path_factory.mktemp("twins-server"),
        env={**CLI_SERVER_ENV, "PATH": path},
        extra_args=("--gpu-cpu-twins",),
    )
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def test_lightning_gpu_qnode_runs_on_its_cpu_twin(twins_server: LiveServer, tmp_path: Path) -> None:
    name = f"twins-{uuid.uuid4().hex[:8]}"
    ok(
        "run",
        str(SCRIPT),
        "--instance-type",
        "ml.g4dn.xlarge",
        "--hp",
        "qnode=true",
        "--device",
        "local:pennylane/lightning.gpu",
        "--name",
        name,
        endpoint=twins_server.url,
        timeout=240,
    )
    results = saved_results(name, twins_server.url, tmp_path)
    assert results["twins"] is True and results["device"] == "lightning.qubit"
    assert results["qnode"] == pytest.approx(math.cos(0.3))
    assert results["cuda_visible_devices"] == ""
    log = ok("logs", name, endpoint=twins_server.url).stdout
    assert INSTALLED in log
    assert "lightning.gpu -> lightning.qubit" in log
    events = [event["message"] for event in job_of(name, twins_server.url)["events"]]
    assert any("runs on CPU (--gpu-cpu-twins" in message for message in events), events


def test_cpu_types_are_not_twinned(twins_server: LiveServer, tmp_path: Path) -> None:
    name = f"cpu-{uuid.uuid4().hex[:8]}"
    ok("run", str(SCRIPT), "--name", name, endpoint=twins_server.url, timeout=240)
    results = saved_results(name, twins_server.url, tmp_path)
    assert results["twins"] is False and results["cuda_visible_devices"] is None
