"""An instance's layout as its sandbox shows it: container paths and the sandbox request.

Inside a sandbox that isolates (bubblewrap), the instance directory is ``/opt/ml`` (and
``/opt/braket``), so every path the instance is told about (its environment, its
``spec.json``) is a container path: :func:`container_view` maps the host layout of
:func:`hybridjobs.runners.contract.instance_paths` onto it. A checkpoint directory outside
``/opt/ml`` (``checkpointConfig.localPath`` such as ``/opt/jobs/checkpoints``) appears at
that very path, and the interpreter's requirements cache at
:data:`hybridjobs.sandbox.box.REQUIREMENTS_CACHE`; :func:`instance_box` lists those binds
and the instance's limits for the sandbox and its cgroup.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hybridjobs.runners.contract import (
    CONTAINER_ROOTS,
    InstanceLaunch,
    InstancePaths,
    container_checkpoint_path,
)
from hybridjobs.sandbox.box import CONTAINER_ROOT, REQUIREMENTS_CACHE, Bind, InstanceBox

GIB = 2**30


def _checkpoint_local_path(launch: InstanceLaunch) -> str | None:
    return (launch.request.get("checkpointConfig") or {}).get("localPath")


def container_view(launch: InstanceLaunch, paths: InstancePaths) -> InstancePaths:
    """``paths`` as the sandboxed instance sees them (the log file keeps its host path:
    the launcher opens it, the instance never names it)."""
    root = Path(CONTAINER_ROOT)

    def inside(path: Path) -> Path:
        return root / path.relative_to(paths.instance_dir)

    mapped = {
        f.name: inside(getattr(paths, f.name))
        for f in dataclasses.fields(paths)
        if f.name not in ("channel_dirs", "checkpoint_dir", "log_file")
    }
    return InstancePaths(
        **mapped,
        channel_dirs={name: inside(path) for name, path in paths.channel_dirs.items()},
        checkpoint_dir=Path(container_checkpoint_path(_checkpoint_local_path(launch))),
        log_file=paths.log_file,
    )


def container_launch(launch: InstanceLaunch) -> InstanceLaunch:
    """``launch`` with the requirements cache at its container path."""
    return dataclasses.replace(launch, requirements_cache_dir=Path(REQUIREMENTS_CACHE))


def instance_box(launch: InstanceLaunch, paths: InstancePaths, pids_max: int | None) -> InstanceBox:
    """The sandbox request of one instance: its directory, a checkpoint directory outside
    ``/opt/ml``, the requirements cache; memory from the instance type."""
    binds: list[Bind] = []
    checkpoint = container_checkpoint_path(_checkpoint_local_path(launch))
    inside = any(checkpoint == r or checkpoint.startswith(r + "/") for r in CONTAINER_ROOTS)
    if not inside:
        binds.append(Bind(paths.checkpoint_dir, checkpoint))
    launch.requirements_cache_dir.mkdir(parents=True, exist_ok=True)
    binds.append(Bind(launch.requirements_cache_dir, REQUIREMENTS_CACHE))
    memory_gib = float(launch.instance_resources[1])
    return InstanceBox(
        name=f"{launch.job_id}-{launch.current_host}",
        host=launch.current_host,
        instance_dir=paths.instance_dir,
        binds=tuple(binds),
        memory_bytes=int(memory_gib * GIB) if memory_gib > 0 else None,
        pids_max=pids_max,
        instance_type=launch.instance_type,
        memory_gib=memory_gib,
        runtime=_interpreter_dirs(launch.python),
    )


def _interpreter_dirs(python: str) -> tuple[Path, ...]:
    """The interpreter's environment (``…/bin/python`` -> ``…``) and its real prefix."""
    here = Path(python).absolute().parent.parent
    real = Path(python).resolve().parent.parent
    return (here,) if real == here else (here, real)
