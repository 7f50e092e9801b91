"""Starting one local instance: its script fetched ahead, then its process (or MPI's).

How an instance is laid out (container paths in a sandbox, host paths without one) is
:func:`hybridjobs.runners.boxlayout.prepare_instance`, shared with the cluster agents.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping

from hybridjobs.objects import ObjectStore, parse_s3_uri
from hybridjobs.runners import contract
from hybridjobs.runners.boxlayout import PreparedInstance
from hybridjobs.runners.boxlayout import prepare_instance as prepare_instance
from hybridjobs.runners.local import InstanceHandle
from hybridjobs.runners.mpi import mpirun_argv
from hybridjobs.scheduler.context import Launcher

log = logging.getLogger(__name__)


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
