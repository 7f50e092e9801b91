"""Instances on a Ray cluster run in the same sandbox as local ones, warm and cold.

A service with ``--sandbox bwrap`` and ``--runner ray`` on a real two-node cluster: every
instance sees its own ``/opt/ml`` and PID namespace, not the service's data directory nor
any node's agent directory (other jobs' instances); the node pools' forked instances make
their sandbox themselves, the cold path runs in bubblewrap.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs.conftest import JobKit, describe, wait_until

from raycluster.conftest import RayCluster, ray_service
from raycluster.test_ray_runner import node_pool_pids, two_instances, warm_pool_status

SPY = """
import json, os, pathlib, socket
host = os.environ["SM_CURRENT_HOST"]
hyperparameters = json.loads(pathlib.Path(os.environ["AMZN_BRAKET_HP_FILE"]).read_text())
def seen(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None
report = {
    "host": host,
    "hostname": socket.gethostname(),
    "results_dir": os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"],
    "opt_ml": seen("/opt/ml"),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "data_dir": seen(hyperparameters["data_dir"]),
    "agents": seen(hyperparameters["agents"]),
}
print("report:", json.dumps(report), flush=True)
"""


@pytest.fixture(scope="module", params=["warm", "cold"])
def boxed_ray(
    request: pytest.FixtureRequest,
    ray_cluster: RayCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JobKit]:
    """A sandboxed ``--runner ray`` service (warm: node pools; cold: instance actors)."""
    data_dir = tmp_path_factory.mktemp(f"ray-boxed-{request.param}")
    with ray_service(
        ray_cluster, data_dir, warm=request.param == "warm", HYBRIDJOBS_SANDBOX="bwrap"
    ) as kit:
        yield kit


def test_ray_instances_see_only_their_sandbox(boxed_ray: JobKit) -> None:
    agents = Path(tempfile.gettempdir()) / "hybridjobs-agent"
    arn = two_instances(
        boxed_ray,
        SPY,
        hyperParameters={"data_dir": str(boxed_ray.server.data_dir), "agents": str(agents)},
    )
    job = boxed_ray.wait(arn, timeout=180)
    assert job["status"] == "COMPLETED", describe(job)
    for host in ("algo-1", "algo-2"):
        lines = [e.message for e in boxed_ray.store.list_log_events(arn, host)]
        reports = [json.loads(line.split("report:", 1)[1]) for line in lines if "report:" in line]
        assert len(reports) == 1, lines
        seen = reports[0]
        assert seen["hostname"] == host and seen["results_dir"] == "/opt/ml/model", seen
        assert {"code", "input", "model"} <= set(seen["opt_ml"]), seen
        assert max(seen["pids"]) < 10, seen  # its own PID namespace
        assert seen["data_dir"] is None and seen["agents"] is None, seen
    instances = boxed_ray.job(arn).runner_state["cluster_instances"]
    warm = [instance["name"].startswith("hybridjobs-pool-") for instance in instances]
    if boxed_ray.server.data_dir.name.startswith("ray-boxed-warm"):
        assert all(warm), instances
        status = warm_pool_status(boxed_ray)
        assert all(node["launches"]["warm"] >= 1 for node in status["nodes"]), status
    else:
        assert not any(warm), instances


def _marked(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker`` (wherever they run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("boxed_ray", ["warm"], indirect=True)
def test_sandboxed_warm_instances_end_with_their_node_pool(
    boxed_ray: JobKit, ray_cluster: RayCluster
) -> None:
    duration = f"3600.{uuid.uuid4().int % 10**9}"
    arn = two_instances(
        boxed_ray,
        f"import subprocess\nsubprocess.run(['sleep', '{duration}'])\n",
    )
    wait_until(lambda: len(_marked(duration)) == 2, 120, "both instances' sleeps")
    pools = node_pool_pids(ray_cluster)
    assert len(pools) == 2, pools
    for pid in pools:  # the pool actors crash: their zygotes, and every instance, end
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _marked(duration), 30, "the sandboxed instances to end")
    job = boxed_ray.wait(arn, timeout=120)
    assert job["status"] == "FAILED", describe(job)
