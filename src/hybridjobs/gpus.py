"""The host's GPUs: discovered once at start-up, handed to instances one by one.

Discovery asks NVML (``nvidia-ml-py``, module ``pynvml``) when it is importable, else
``nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits``;
a host with neither (or where both fail) has no GPUs. :class:`GpuAllocator` gives each
instance of a GPU instance type its own GPUs (``CUDA_VISIBLE_DEVICES``, the instance
type's count) and takes them back when the job ends.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

NVIDIA_SMI_QUERY = (
    "--query-gpu=index,uuid,name,memory.total",
    "--format=csv,noheader,nounits",
)
NVIDIA_SMI_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Gpu:
    """One GPU as the driver numbers it."""

    index: int
    uuid: str
    name: str
    memory_mib: int


def parse_nvidia_smi(output: str) -> list[Gpu]:
    """The GPUs in ``nvidia-smi --query-gpu=index,uuid,name,memory.total
    --format=csv,noheader,nounits`` output; malformed lines are skipped."""
    gpus: list[Gpu] = []
    for row in csv.reader(io.StringIO(output), skipinitialspace=True):
        if len(row) < 4:
            continue
        try:
            memory = int(float(row[3].strip() or 0))
            gpus.append(Gpu(int(row[0]), row[1].strip(), row[2].strip(), memory))
        except ValueError:
            continue
    return sorted(gpus, key=lambda gpu: gpu.index)


def _from_nvml() -> list[Gpu] | None:
    """The GPUs NVML reports; ``None`` when NVML is missing or fails."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        gpus = []
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20
            gpus.append(Gpu(index, _text(uuid), _text(name), int(memory)))
        return gpus
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_nvidia_smi() -> list[Gpu]:
    """The GPUs ``nvidia-smi`` (on ``PATH``) lists; none when it is missing or fails."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        result = subprocess.run(
            [executable, *NVIDIA_SMI_QUERY],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else []


def gpu_device_nodes(dev: Path = Path("/dev")) -> tuple[Path, ...]:
    """The NVIDIA device nodes under ``dev`` a GPU instance's sandbox must show: every
    ``nvidia*`` node (the GPUs, ``nvidiactl``, ``nvidia-uvm``, ...) and ``nvidia-caps``.
    All GPUs' nodes, as on the host: ``CUDA_VISIBLE_DEVICES`` picks the instance's own
    (a driver's minor numbers need not follow ``nvidia-smi``'s indices)."""
    with contextlib.suppress(OSError):
        return tuple(sorted(path for path in dev.iterdir() if path.name.startswith("nvidia")))
    return ()


def discover_gpus() -> list[Gpu]:
    """The host's GPUs: NVML when importable and working, else ``nvidia-smi``."""
    found = _from_nvml()
    return found if found is not None else _from_nvidia_smi()


class GpuAllocator:
    """Hands out the host's GPU indices to instances; thread-safe.

    ``allocate(job, host, count)`` is idempotent per ``(job, host)`` (a supervisor that lays
    out its instances again gets the same GPUs) and returns ``None`` when too few are free;
    ``release(job)`` frees every GPU of the job.
    """

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = list(indices)
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], list[int]] = {}

    def allocate(self, job: str, host: str, count: int) -> list[int] | None:
        with self._lock:
            held = self._held.get((job, host))
            if held is not None:
                return list(held)
            busy = {index for indices in self._held.values() for index in indices}
            free = [index for index in self.indices if index not in busy]
            if count > len(free):
                return None
            self._held[(job, host)] = free[:count]
            return free[:count]

    def release(self, job: str) -> None:
        with self._lock:
            for key in [key for key in self._held if key[0] == job]:
                del self._held[key]

    def in_use(self) -> int:
        with self._lock:
            return sum(len(indices) for indices in self._held.values())


@functools.cache
def host_gpus() -> tuple[Gpu, ...]:
    """:func:`discover_gpus`, asked once per process (the service's start-up)."""
    return tuple(discover_gpus())
