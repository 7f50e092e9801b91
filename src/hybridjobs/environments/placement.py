"""Where one job's instances run: the interpreter of its image, and its GPUs.

:class:`InstancePlacer` is what a job supervisor asks before it lays out the instances:
the image's environment (built on first use; for an image that runs as a real container,
its runtime, with the image pulled on first use), ``CUDA_VISIBLE_DEVICES`` for each instance
(its own GPUs, the instance type's count), and whether GPU instance types run on their
CPU twins (``Settings.gpu_cpu_twins`` on a host without GPUs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hybridjobs.environments.build import (
    Cancelled,
    EnvironmentBuildError,
    ensure_built,
    is_built,
)
from hybridjobs.environments.catalog import Environment, ImageCatalog
from hybridjobs.environments.containers import ensure_image
from hybridjobs.gpus import Gpu, GpuAllocator
from hybridjobs.settings import Settings

TWIN_GPU_CAPACITY = 1024
"""GPUs the service counts with when GPU instance types run on CPU twins (no real ones)."""
TWINS_NOTE = (
    "GPU instance type {instance_type} runs on CPU (--gpu-cpu-twins, no GPU on this host): "
    "PennyLane lightning.gpu runs as lightning.qubit and CUDA-Q's nvidia target as qpp-cpu."
)
CLUSTER_TWINS_NOTE = (
    "GPU instance type {instance_type} runs on CPU (--gpu-cpu-twins, no GPU in the Ray "
    "cluster): PennyLane lightning.gpu runs as lightning.qubit and CUDA-Q's nvidia target "
    "as qpp-cpu."
)
"""The same on the Ray runner (``--runner ray``), for a cluster without GPUs."""


def gpu_capacity(settings: Settings, gpus: Sequence[Gpu]) -> int:
    """GPUs admission may hand out: the setting, else the host's; with CPU twins and no
    GPU, :data:`TWIN_GPU_CAPACITY`."""
    count = settings.capacity_gpus if settings.capacity_gpus is not None else len(gpus)
    if count == 0 and settings.gpu_cpu_twins:
        return TWIN_GPU_CAPACITY
    return count


@dataclass(frozen=True)
class Placement:
    """The instances' interpreter and, per instance (``algo-1`` first), the value of
    ``CUDA_VISIBLE_DEVICES`` (``None``: not set). ``container_runtime`` is the runtime's
    client when the instances run as containers of ``environment.image`` (``python`` is
    then the interpreter inside them)."""

    environment: Environment
    python: str
    visible_gpus: list[str | None]
    twins: bool = False
    notes: list[str] = field(default_factory=list)
    container_runtime: str | None = None


class InstancePlacer:
    """Places jobs' instances (see the module docstring); thread-safe."""

    def __init__(self, settings: Settings, catalog: ImageCatalog, gpus: Sequence[Gpu]) -> None:
        self.settings = settings
        self.catalog = catalog
        self.gpus = list(gpus)
        self.allocator = GpuAllocator([gpu.index for gpu in self.gpus])

    def place(
        self,
        job_arn: str,
        image_uri: str | None,
        hosts: Sequence[str],
        gpus_per_instance: int,
        instance_type: str,
        say: Callable[[str], None] = lambda _message: None,
        cancelled: Cancelled = lambda: False,
    ) -> Placement:
        """The job's placement. Builds the image's environment when it is not built yet
        (``say`` announces the build; ``cancelled`` can give it up:
        :class:`~hybridjobs.environments.build.BuildCancelled`). ``EnvironmentBuildError``
        when the image is mapped to nothing (any more) or its environment cannot be
        built."""
        environment = self.catalog.resolve(image_uri)
        if environment is None:
            raise EnvironmentBuildError(self.catalog.problem(image_uri) or str(image_uri))
        runtime: str | None = None
        if environment.kind == "container":
            runtime = ensure_image(environment, str(image_uri), say)
        elif not is_built(environment):
            say(f"Building the environment {environment.name!r} of image {image_uri} (first use).")
        python = ensure_built(
            environment, self.settings.python_executable, self.settings.uv_cache_dir, cancelled
        )
        notes: list[str] = []
        twins = False
        visible: list[str | None]
        if gpus_per_instance == 0:
            visible = ["" if self.gpus else None for _ in hosts]
        elif not self.gpus and self.settings.gpu_cpu_twins:
            twins = True
            visible = ["" for _ in hosts]
            notes.append(TWINS_NOTE.format(instance_type=instance_type))
        else:
            visible = []
            for host in hosts:
                indices = self.allocator.allocate(job_arn, host, gpus_per_instance)
                if indices is None:
                    self.allocator.release(job_arn)
                    raise EnvironmentBuildError(
                        f"{instance_type} needs {gpus_per_instance} GPU(s) per instance; "
                        f"{len(self.gpus) - self.allocator.in_use()} of {len(self.gpus)} are free"
                    )
                visible.append(",".join(str(index) for index in indices))
        return Placement(environment, python, visible, twins, notes, runtime)

    def release(self, job_arn: str) -> None:
        """The job ended: its GPUs are free again."""
        self.allocator.release(job_arn)


def image_catalog(settings: Settings) -> ImageCatalog:
    """The service's image catalog: its environments directory and configured images."""
    return ImageCatalog(
        settings.resolved_environments_dir,
        settings.python_executable,
        settings.image_interpreters,
    )
