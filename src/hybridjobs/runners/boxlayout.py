"""An instance's layout as its sandbox shows it: container paths and the sandbox request.

Inside a sandbox that isolates (bubblewrap), the instance directory is ``/opt/ml`` (and
``/opt/braket``), so every path the instance is told about (its environment, its
``spec.json``) is a container path: :func:`container_view` maps the host layout of
:func:`hybridjobs.runners.contract.instance_paths` onto it. A checkpoint directory outside
``/opt/ml`` (``checkpointConfig.localPath`` such as ``/opt/jobs/checkpoints``) appears at
that very path, and the interpreter's requirements cache at
:data:`hybridjobs.sandbox.box.REQUIREMENTS_CACHE`; :func:`instance_box` lists those binds
and the instance's limits for the sandbox and its cgroup; :func:`prepare_instance` lays an
instance out either way (the local scheduler and the cluster agents both use it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.gpus import gpu_device_nodes
from hybridjobs.runners import contract
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
        devices=gpu_device_nodes() if launch.visible_gpus is not None else (),
    )


def _interpreter_dirs(python: str) -> tuple[Path, ...]:
    """The interpreter's environment (``…/bin/python`` -> ``…``) and its real prefix."""
    here = Path(python).absolute().parent.parent
    real = Path(python).resolve().parent.parent
    return (here,) if real == here else (here, real)


@dataclass(frozen=True)
class PreparedInstance:
    """One instance ready to start: host ``paths``, its ``env``, the ``spec`` path as the
    instance sees it, and its ``box``."""

    launch: contract.InstanceLaunch
    paths: contract.InstancePaths
    env: dict[str, str]
    spec: Path
    box: InstanceBox


def prepare_instance(
    launch: contract.InstanceLaunch, isolated: bool, pids_max: int
) -> PreparedInstance:
    """Lay out the instance's directory and write its config files and spec."""
    paths = contract.prepare_instance_dirs(launch)
    if isolated:
        view = container_view(launch, paths)
        env = contract.build_environment(launch, view)
        contract.write_instance_spec(container_launch(launch), paths, env, view=view)
        spec = view.spec_file
    else:
        env = contract.build_environment(launch, paths)
        spec = contract.write_instance_spec(launch, paths, env)
    return PreparedInstance(launch, paths, env, spec, instance_box(launch, paths, pids_max))
