"""GPU discovery, admission and placement, from a recorded ``nvidia-smi`` answer.

A fake ``nvidia-smi`` first on ``PATH`` prints what a two-GPU host printed; the real
parsing, admission (CreateJob) and placement code (``CUDA_VISIBLE_DEVICES`` per instance)
run on it, in-process and in a live service that runs GPU jobs.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.braket import expect_error
from support.cli import CLI_SERVER_ENV, ok, saved_results
from support.jobs import create_job_request
from support.server import API_TEST_SERVER_ENV, LiveServer, start_server

from hybridjobs.environments.build import EnvironmentBuildError
from hybridjobs.environments.catalog import ImageCatalog
from hybridjobs.environments.placement import InstancePlacer, gpu_capacity
from hybridjobs.gpus import Gpu, _from_nvidia_smi, discover_gpus, parse_nvidia_smi
from hybridjobs.settings import Settings

# `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits`
# on a g4dn.12xlarge-like host, cut to two GPUs.
RECORDED = (
    "0, GPU-1b2f7c1e-5a3d-4c77-9a53-0f5e3b8c2a11, Tesla T4, 15360\n"
    "1, GPU-9c8d6e4f-2b1a-4e3c-8d7f-6a5b4c3d2e10, Tesla T4, 15360\n"
)
SCRIPT = Path(__file__).with_name("gpu_job.py")


def fake_nvidia_smi(directory: Path, answer: str = RECORDED, code: int = 0) -> Path:
    """A ``nvidia-smi`` in ``directory`` that prints ``answer`` for the query we make."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--query-gpu=index,uuid,name,memory.total*) ;; '
        '*) echo "unexpected arguments: $*" >&2; exit 9;; esac\n'
        f"cat <<'ANSWER'\n{answer}ANSWER\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


def path_with(directory: Path) -> str:
    return os.pathsep.join([str(directory), os.environ.get("PATH", os.defpath)])


def test_parse_recorded_answer() -> None:
    gpus = parse_nvidia_smi(RECORDED + "garbage line\n2, x, y, not-a-number\n")
    assert [(g.index, g.name, g.memory_mib) for g in gpus] == [
        (0, "Tesla T4", 15360),
        (1, "Tesla T4", 15360),
    ]
    assert gpus[1].uuid.startswith("GPU-9c8d")


def test_discovery_runs_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_with(fake_nvidia_smi(tmp_path / "two")))
    assert [gpu.index for gpu in _from_nvidia_smi()] == [0, 1]
    monkeypatch.setenv("PATH", path_with(fake_nvidia_smi(tmp_path / "broken", "", code=6)))
    assert _from_nvidia_smi() == []
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert _from_nvidia_smi() == [] and discover_gpus() == []


def test_capacity_and_twins() -> None:
    two = [Gpu(0, "a", "T4", 1), Gpu(1, "b", "T4", 1)]
    assert gpu_capacity(Settings(), two) == 2
    assert gpu_capacity(Settings(capacity_gpus=1), two) == 1
    assert gpu_capacity(Settings(), []) == 0
    assert gpu_capacity(Settings(gpu_cpu_twins=True), []) > 100
    assert gpu_capacity(Settings(gpu_cpu_twins=True), two) == 2


def test_placement_gives_each_instance_its_own_gpus(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    catalog = ImageCatalog(tmp_path / "envs", settings.python_executable)
    gpus = [Gpu(index, f"GPU-{index}", "T4", 15360) for index in range(4)]
    placer = InstancePlacer(settings, catalog, gpus)
    first = placer.place("job-1", None, ["algo-1", "algo-2"], 1, "ml.g4dn.xlarge")
    assert first.visible_gpus == ["0", "1"] and not first.twins
    again = placer.place("job-1", None, ["algo-1", "algo-2"], 1, "ml.g4dn.xlarge")
    assert again.visible_gpus == ["0", "1"], "a re-attaching supervisor keeps its GPUs"
    second = placer.place("job-2", None, ["algo-1"], 2, "ml.g5.12xlarge")
    assert second.visible_gpus == ["2,3"]
    cpu = placer.place("job-3", None, ["algo-1"], 0, "ml.m5.large")
    assert cpu.visible_gpus == [""], "CPU instances on a GPU host see no GPU"
    with pytest.raises(EnvironmentBuildError, match="0 of 4 are free"):
        placer.place("job-4", None, ["algo-1"], 1, "ml.g4dn.xlarge")
    placer.release("job-1")
    assert placer.place("job-4", None, ["algo-1"], 1, "ml.g4dn.xlarge").visible_gpus == ["0"]


@pytest.fixture(scope="module")
def gpu_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_nvidia_smi(tmp_path_factory.mktemp("fake-gpus"))


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory: pytest.TempPathFactory, gpu_host: Path) -> Iterator[LiveServer]:
    """A service on a (recorded) two-GPU host that runs jobs."""
    env = {**CLI_SERVER_ENV, "PATH": path_with(gpu_host), "HYBRIDJOBS_WARM_POOL": "false"}
    live = start_server(tmp_path_factory.mktemp("gpu-server"), env=env)
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


def test_admission_counts_the_discovered_gpus(
    tmp_path_factory: pytest.TempPathFactory, gpu_host: Path
) -> None:
    env = {k: v for k, v in API_TEST_SERVER_ENV.items() if k != "HYBRIDJOBS_CAPACITY_GPUS"}
    live = start_server(
        tmp_path_factory.mktemp("gpu-api"), env={**env, "PATH": path_with(gpu_host)}
    )
    try:
        braket = live.client("braket")

        def create(instance_type: str, count: int) -> Any:
            return create_job_request(
                jobName=f"gpu-{uuid.uuid4().hex[:10]}",
                instanceConfig={"instanceType": instance_type, "instanceCount": count},
            )

        assert braket.create_job(**create("ml.g4dn.xlarge", 2))["jobArn"]
        assert braket.create_job(**create("ml.p3.2xlarge", 1))["jobArn"]
        assert braket.create_job(**create("ml.g5.xlarge", 1))["jobArn"]  # beyond the model
        error = expect_error(
            lambda: braket.create_job(**create("ml.g4dn.12xlarge", 1)),
            "ServiceQuotaExceededException",
        )
        assert "4 GPU(s) but the service has 2" in error["Error"]["Message"]
        error = expect_error(
            lambda: braket.create_job(**create("ml.g6.xlarge", 3)),
            "ServiceQuotaExceededException",
        )
        assert "3 GPU(s) but the service has 2" in error["Error"]["Message"]
    finally:
        assert live.stop() == 0


def test_each_instance_sees_its_own_gpu(gpu_server: LiveServer, tmp_path: Path) -> None:
    name = f"gpus-{uuid.uuid4().hex[:8]}"
    ok(
        "run",
        str(SCRIPT),
        "--instance-type",
        "ml.g4dn.xlarge",
        "--instances",
        "2",
        "--device",
        "local:pennylane/lightning.qubit",
        "--name",
        name,
        endpoint=gpu_server.url,
        timeout=240,
    )
    results = saved_results(name, gpu_server.url, tmp_path)
    assert results["cuda_visible_devices"] == "0", "algo-1 saves the results"
    assert results["twins"] is False
    log = ok("logs", name, endpoint=gpu_server.url).stdout
    assert "CUDA_VISIBLE_DEVICES=0 " in log and "CUDA_VISIBLE_DEVICES=1 " in log
    assert "--gpu-cpu-twins" not in log
