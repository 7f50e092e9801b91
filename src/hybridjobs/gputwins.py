"""GPU instance types on CPU: the GPU simulators mapped to their CPU twins (instance side).

Installed by the bootstrap when the service runs GPU instance types without GPUs
(``--gpu-cpu-twins``, instance variable ``HYBRIDJOBS_GPU_TWINS=1``). Standard library
only: nothing is imported ahead; when the job imports PennyLane or CUDA-Q, the module is
patched right after it loads:

* ``pennylane.device("lightning.gpu", …)`` creates ``lightning.qubit`` (same arguments);
* ``cudaq.set_target("nvidia" | "nvidia-fp64" | "nvidia-mgpu" | "nvidia-mqpu", …)`` sets
  ``qpp-cpu``.

Each substitution is announced on stderr (the job's log) the first time it happens.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

PENNYLANE_TWINS = {"lightning.gpu": "lightning.qubit", "lightning.tensor": "default.tensor"}
CUDAQ_TWINS = {
    "nvidia": "qpp-cpu",
    "nvidia-fp64": "qpp-cpu",
    "nvidia-mgpu": "qpp-cpu",
    "nvidia-mqpu": "qpp-cpu",
    "tensornet": "qpp-cpu",
}
BANNER = "hybridjobs: GPU instance type running on CPU (--gpu-cpu-twins): {what} -> {twin}"

_announced: set[str] = set()


def announce(what: str, twin: str) -> None:
    """Say once, in the job's log, which simulator stands in for which."""
    if what not in _announced:
        _announced.add(what)
        print(BANNER.format(what=what, twin=twin), file=sys.stderr, flush=True)


def _patch_pennylane(module: ModuleType) -> None:
    original: Callable[..., Any] = getattr(module, "device")  # noqa: B009

    @functools.wraps(original)
    def device(name: str, *args: Any, **kwargs: Any) -> Any:
        twin = PENNYLANE_TWINS.get(name)
        if twin is not None:
            announce(name, twin)
            name = twin
        return original(name, *args, **kwargs)

    setattr(module, "device", device)  # noqa: B010 - a module attribute mypy cannot see


def _patch_cudaq(module: ModuleType) -> None:
    original: Callable[..., Any] = getattr(module, "set_target")  # noqa: B009

    @functools.wraps(original)
    def set_target(target: Any, *args: Any, **kwargs: Any) -> Any:
        twin = CUDAQ_TWINS.get(str(target))
        if twin is not None:
            announce(f"cudaq target {target}", twin)
            return original(twin)
        return original(target, *args, **kwargs)

    setattr(module, "set_target", set_target)  # noqa: B010


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "pennylane": _patch_pennylane,
    "cudaq": _patch_cudaq,
}


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, patch: Callable[[ModuleType], None]) -> None:
        self.loader = loader
        self.patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.patch(module)


class _TwinFinder(importlib.abc.MetaPathFinder):
    """Finds the patched modules through the other finders and wraps their loaders."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        patch = PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


INSTALLED = (
    "hybridjobs: this GPU instance runs on CPU (--gpu-cpu-twins): PennyLane lightning.gpu "
    "runs as lightning.qubit, CUDA-Q's nvidia targets as qpp-cpu. Not a GPU run."
)


def install_twins() -> None:
    """Patch PennyLane and CUDA-Q when they load (at once if already imported), and say
    so in the job's log."""
    print(INSTALLED, file=sys.stderr, flush=True)
    for name, patch in PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
    if not any(isinstance(finder, _TwinFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TwinFinder())
