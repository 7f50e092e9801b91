"""Image environments and GPUs on the Ray runner (``--runner ray``), on real clusters.

* A cluster whose two nodes have one logical GPU each (``num_gpus=1``): a job on an image
  the operator mapped to another interpreter (``images add URI --python PATH``) runs on
  it; one mapped to requirements is built with uv on the nodes (into
  ``HYBRIDJOBS_NODE_ENVIRONMENTS_DIR``, under a lock: two instances, one machine); one
  whose requirements cannot be built fails with a reason naming the image and the node;
  a GPU instance type's two instances each see the GPU Ray gave their actor.
* A cluster without GPUs and ``--gpu-cpu-twins``: a GPU instance type runs on CPU, with
  the note in the job's events and the twins banner in its log.

Each cluster lives for its class only (two clusters at once would crowd the machine). The
GPU cluster's service has node pools: an image environment's first instance on a node
starts cold and starts that environment's zygote there, later ones fork from it; GPU
instances always start cold, in an actor holding their GPUs. The twins service has no
node pools (they would only add their start-up time).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs.conftest import JobKit, describe, wait_until

from hybridjobs.environments.catalog import ImageCatalog, mapped_name
from hybridjobs.environments.nodes import ENVIRONMENTS_DIR_VARIABLE
from hybridjobs.gputwins import INSTALLED
from raycluster.conftest import NODE_CPUS, NODE_MEMORY, RayCluster, ray_service
from raycluster.test_ray_runner import warm_pool_status

GPU_TYPE = "ml.g4dn.xlarge"
"""Given 1 vCPU, 4 GiB and its 1 GPU by the tests' instance-type table: one per node."""
INSTANCE_TYPES = {GPU_TYPE: {"vcpus": 1, "memory_gib": 4, "gpus": 1}}
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

# Says, once per instance, what it runs on (standard library only: any interpreter).
REPORT = """
import json, os, sys
report = {
    "host": os.environ["SM_CURRENT_HOST"],
    "node": os.environ["HYBRIDJOBS_NODE_ID"],
    "executable": sys.executable,
    "prefix": sys.prefix,
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "twins": os.environ.get("HYBRIDJOBS_GPU_TWINS"),
}
try:
    import six
    report["six"] = six.__version__
except ImportError:
    report["six"] = None
print("report:", json.dumps(report), flush=True)
"""

BASE_PYTHON = (
    Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
)
"""An interpreter other than the nodes' own (the virtualenv's base: no hybridjobs in it)."""


def _start_gpu_cluster() -> RayCluster:
    """Two nodes of 2 CPUs and 1 logical GPU each."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={
            "num_cpus": NODE_CPUS,
            "num_gpus": 1,
            "memory": NODE_MEMORY,
            "resources": {"node_a": 1},
            "include_dashboard": False,
        },
    )
    second = cluster.add_node(
        num_cpus=NODE_CPUS, num_gpus=1, memory=NODE_MEMORY, resources={"node_b": 1}
    )
    cluster.wait_for_nodes()
    return RayCluster(cluster, second)


def _uv_cache(request: pytest.FixtureRequest, fallback: Path) -> Path:
    """uv's cache shared with ``tests/images`` (pytest's cache), so builds need no network
    once it holds the packages."""
    cache = getattr(request.config, "cache", None)
    base = Path(cache.mkdir("hybridjobs-images")) if cache is not None else fallback
    return base / "uv-cache"


def reports(kit: JobKit, arn: str) -> dict[str, dict[str, Any]]:
    """Each instance's ``report:`` line, by host."""
    found: dict[str, dict[str, Any]] = {}
    for host in ("algo-1", "algo-2"):
        for event in kit.store.list_log_events(arn, host):
            if event.message.startswith("report: "):
                found[host] = json.loads(event.message.split("report: ", 1)[1])
    return found


def warm_launches(kit: JobKit) -> int:
    """Instances forked from a zygote by the node pools, in all."""
    nodes = warm_pool_status(kit)["nodes"]
    assert len(nodes) == 2, nodes
    return sum(int(node["launches"]["warm"]) for node in nodes)


def environment_pools_ready(kit: JobKit, python: str) -> bool:
    """Whether every node pool has a ready zygote of ``python``."""
    nodes = warm_pool_status(kit)["nodes"]
    return len(nodes) == 2 and all(
        node.get("environments", {}).get(python, {}).get("ready", 0) >= 1 for node in nodes
    )


def log_lines(kit: JobKit, arn: str, host: str) -> list[str]:
    return [event.message for event in kit.store.list_log_events(arn, host)]


def run_on_image(kit: JobKit, image: str | None, **overrides: Any) -> dict[str, Any]:
    """Run :data:`REPORT` on ``image`` (two instances unless ``overrides`` say otherwise);
    the final GetJob response."""
    specification: dict[str, Any] = {
        "scriptModeConfig": {
            "s3Uri": kit.put_script(REPORT, "report.py"),
            "entryPoint": "report",
            "compressionType": None,
        }
    }
    if image is not None:
        specification["containerImage"] = {"uri": image}
    overrides.setdefault("instanceConfig", {"instanceType": "ml.m5.large", "instanceCount": 2})
    arn = kit.create(algorithmSpecification=specification, **overrides)
    job: dict[str, Any] = kit.wait(arn, timeout=240)
    return job


@pytest.fixture(scope="class")
def node_environments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the GPU cluster's nodes build image environments."""
    return tmp_path_factory.mktemp("node-environments")


@pytest.fixture(scope="class")
def gpu_cluster(
    request: pytest.FixtureRequest,
    node_environments: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RayCluster]:
    """The nodes build image environments in ``node_environments`` with the shared uv
    cache (the variables their processes inherit when the cluster starts)."""
    node_env = {
        ENVIRONMENTS_DIR_VARIABLE: str(node_environments),
        "UV_CACHE_DIR": str(_uv_cache(request, tmp_path_factory.mktemp("uv"))),
    }
    saved = {name: os.environ.get(name) for name in node_env}
    os.environ.update(node_env)
    try:
        cluster = _start_gpu_cluster()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield cluster
    finally:
        cluster.cluster.shutdown()


@pytest.fixture(scope="class")
def gpu_jobs(gpu_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    data_dir = tmp_path_factory.mktemp("ray-gpus")
    types = data_dir / "instance-types.json"
    types.write_text(json.dumps(INSTANCE_TYPES))
    with ray_service(
        gpu_cluster,
        data_dir,
        warm=True,
        HYBRIDJOBS_INSTANCE_TYPES_FILE=str(types),
        HYBRIDJOBS_ENVIRONMENTS_DIR=str(data_dir / "environments"),
    ) as kit:
        yield kit


class TestGpuCluster:
    """Images and GPUs on a cluster of two one-GPU nodes."""

    @staticmethod
    def catalog(kit: JobKit) -> ImageCatalog:
        """The service's image catalog (what ``hybridjobs images add`` writes to)."""
        return ImageCatalog(kit.server.data_dir / "environments", sys.executable)

    def test_an_image_mapped_to_an_interpreter_runs_on_it(self, gpu_jobs: JobKit) -> None:
        assert BASE_PYTHON.exists(), BASE_PYTHON
        image = f"{REGISTRY}/hybridjobs-ray-plain:{uuid.uuid4().hex[:8]}"
        self.catalog(gpu_jobs).add(image, python=str(BASE_PYTHON))

        # The first instances start cold and start the environment's pool on their nodes;
        # once its zygotes are ready, the next ones fork from them.
        for start in ("cold", "warm"):
            before = warm_launches(gpu_jobs)
            job = run_on_image(gpu_jobs, image)

            assert job["status"] == "COMPLETED", describe(job)
            seen = reports(gpu_jobs, job["jobArn"])
            assert set(seen) == {"algo-1", "algo-2"}, seen
            assert len({report["node"] for report in seen.values()}) == 2, seen
            for report in seen.values():
                assert report["executable"] == str(BASE_PYTHON), report
                # A CPU instance type on a GPU node sees no GPU, as on a local GPU host.
                assert report["cuda_visible_devices"] == "", report
            if start == "warm":
                assert warm_launches(gpu_jobs) == before + 2
            else:
                wait_until(
                    lambda: environment_pools_ready(gpu_jobs, str(BASE_PYTHON)),
                    timeout=120,
                    what="the environment's zygote on each node",
                )

    def test_an_image_mapped_to_requirements_is_built_on_the_nodes(
        self, gpu_jobs: JobKit, node_environments: Path
    ) -> None:
        image = f"{REGISTRY}/hybridjobs-ray-six:{uuid.uuid4().hex[:8]}"
        self.catalog(gpu_jobs).add(image, requirements="six==1.16.0\n")

        job = run_on_image(gpu_jobs, image)

        assert job["status"] == "COMPLETED", describe(job)
        root = node_environments / mapped_name(image)
        seen = reports(gpu_jobs, job["jobArn"])
        assert set(seen) == {"algo-1", "algo-2"}, seen
        for report in seen.values():  # both nodes of this machine: one environment
            assert report["six"] == "1.16.0" and report["prefix"] == str(root), report
        said = [
            line
            for host in ("algo-1", "algo-2")
            for line in log_lines(gpu_jobs, job["jobArn"], host)
            if "building the environment" in line
        ]
        assert said and all(image in line and "on node" in line for line in said), said
        assert (root / ".hybridjobs-built").is_file()

    def test_an_image_that_cannot_be_built_fails_naming_it_and_the_node(
        self, gpu_jobs: JobKit
    ) -> None:
        image = f"{REGISTRY}/hybridjobs-ray-broken:{uuid.uuid4().hex[:8]}"
        self.catalog(gpu_jobs).add(image, requirements="this is == not a requirement\n")

        job = run_on_image(gpu_jobs, image, instanceConfig={"instanceCount": 1})

        assert job["status"] == "FAILED", describe(job)
        reason = job["failureReason"]
        assert reason.startswith("ClientError: the job's image cannot run: "), reason
        assert image in reason and "cannot be built on node " in reason, reason
        assert "RUNNING" not in [event["eventType"] for event in job["events"]], describe(job)

    def test_an_image_mapped_to_a_container_is_refused_with_the_way_out(
        self, gpu_jobs: JobKit
    ) -> None:
        image = f"{REGISTRY}/hybridjobs-ray-boxed:{uuid.uuid4().hex[:8]}"
        self.catalog(gpu_jobs).add(image, container="localhost/boxed:1", runtime="podman")

        job = run_on_image(gpu_jobs, image, instanceConfig={"instanceCount": 1})

        assert job["status"] == "FAILED", describe(job)
        reason = job["failureReason"]
        assert reason.startswith("ClientError: the job's image cannot run: "), reason
        assert "the Ray runner starts instances as processes" in reason, reason
        assert "--requirements FILE" in reason, reason

    def test_each_gpu_instance_sees_the_gpu_ray_gave_it(self, gpu_jobs: JobKit) -> None:
        job = run_on_image(
            gpu_jobs, None, instanceConfig={"instanceType": GPU_TYPE, "instanceCount": 2}
        )

        assert job["status"] == "COMPLETED", describe(job)
        seen = reports(gpu_jobs, job["jobArn"])
        instances = gpu_jobs.job(job["jobArn"]).runner_state["cluster_instances"]
        assert [i["name"].startswith("hybridjobs-pool-") for i in instances] == [False, False]
        assert {report["node"] for report in seen.values()} == {i["node_id"] for i in instances}
        assert len({report["node"] for report in seen.values()}) == 2, seen
        for report in seen.values():  # each node's one GPU is GPU 0 to Ray
            assert report["cuda_visible_devices"] == "0", report
            assert report["twins"] is None, report


@pytest.fixture(scope="class")
def twin_jobs(
    ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JobKit]:
    data_dir = tmp_path_factory.mktemp("ray-twins")
    types = data_dir / "instance-types.json"
    types.write_text(json.dumps(INSTANCE_TYPES))
    with ray_service(
        ray_cluster,
        data_dir,
        warm=False,  # node pools would cost ~15 s more to get ready
        HYBRIDJOBS_INSTANCE_TYPES_FILE=str(types),
        HYBRIDJOBS_GPU_CPU_TWINS="true",
    ) as kit:
        yield kit


class TestCpuTwins:
    """``--gpu-cpu-twins`` on a cluster without GPUs."""

    def test_a_gpu_type_runs_on_cpu_and_says_so(self, twin_jobs: JobKit) -> None:
        job = run_on_image(
            twin_jobs, None, instanceConfig={"instanceType": GPU_TYPE, "instanceCount": 2}
        )

        assert job["status"] == "COMPLETED", describe(job)
        notes = [event.get("message", "") for event in job["events"]]
        assert any(
            f"{GPU_TYPE} runs on CPU (--gpu-cpu-twins, no GPU in the Ray cluster)" in note
            for note in notes
        ), describe(job)
        seen = reports(twin_jobs, job["jobArn"])
        assert set(seen) == {"algo-1", "algo-2"}, seen
        for host, report in seen.items():
            assert report["twins"] == "1" and report["cuda_visible_devices"] == "", report
            assert any(INSTALLED in line for line in log_lines(twin_jobs, job["jobArn"], host))
