"""The local launch plan of one instance: its directories, environment, spec and box.

An instance that runs in an isolating sandbox is told container paths (``/opt/ml/...``,
see :mod:`hybridjobs.runners.boxlayout`) in its environment and its ``spec.json``; one
that runs on the host is told host paths. Either way it gets an
:class:`~hybridjobs.sandbox.box.InstanceBox` (its limits, and what a sandbox shows it).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hybridjobs.objects import ObjectStore, parse_s3_uri
from hybridjobs.runners import contract
from hybridjobs.runners.boxlayout import container_launch, container_view, instance_box
from hybridjobs.runners.local import InstanceHandle
from hybridjobs.runners.mpi import mpirun_argv
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.scheduler.context import Launcher

log = logging.getLogger(__name__)


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


def prefetch_script(objects: ObjectStore, prepared: PreparedInstance) -> None:
    """Put the job's script where the bootstrap looks for it first, read from the object
    store on the service's side (a shared disk is a fast path the local runner may take):
    a sandboxed instance then needs no S3 client before its first line. Any failure is
    left to the bootstrap, which fetches the script itself and reports what went wrong."""
    script = contract.script_spec(prepared.launch)
    if not script.s3_uri:
        return
    try:
        bucket, key = parse_s3_uri(script.s3_uri)
        name = posixpath.basename(key)
        if name and name not in (".", ".."):
            objects.get_to_file(bucket, key, prepared.paths.original_dir / name)
    except Exception:
        log.debug("prefetching %s failed; the instance fetches it", script.s3_uri, exc_info=True)


def start_instance(
    launcher: Launcher,
    prepared: PreparedInstance,
    mpirun: str | None,
    hyperparameters: Mapping[str, str],
    instance_count: int,
) -> InstanceHandle:
    """Start the instance: the bootstrap, or (``mpirun`` given: algo-1 of an MPI job)
    every rank of it under ``mpirun``."""
    launch, paths = prepared.launch, prepared.paths
    if mpirun is not None:
        argv = mpirun_argv(mpirun, hyperparameters, instance_count, launch.python, prepared.spec)
        return launcher.launch_argv(
            launch.current_host,
            argv,
            prepared.env,
            paths.instance_dir,
            paths.log_file,
            paths.exit_file,
            prepared.box,
        )
    return launcher.launch(
        launch.current_host,
        prepared.spec,
        prepared.env,
        paths.instance_dir,
        paths.log_file,
        paths.exit_file,
        launch.python,
        prepared.box,
    )
