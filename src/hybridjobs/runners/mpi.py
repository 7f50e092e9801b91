"""Launching an instance under Open MPI when the hyperparameters ask for it.

SageMaker's toolkit runs ``mpirun`` on the master host (algo-1) with
``instanceCount x processes_per_host`` ranks while the workers wait (spec §5). Local
instances share one machine, so algo-1 starts every rank with ``mpirun`` on this host and
the other instances start no process of their own.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path


def mpi_requested(hyperparameters: Mapping[str, str]) -> bool:
    """Whether ``sagemaker_mpi_enabled`` is "true" (case-insensitive)."""
    return str(hyperparameters.get("sagemaker_mpi_enabled", "")).lower() == "true"


def rank_count(hyperparameters: Mapping[str, str], instance_count: int) -> int:
    """``sagemaker_mpi_num_processes`` when given, else instances x processes per host."""
    explicit = hyperparameters.get("sagemaker_mpi_num_processes")
    if explicit:
        return max(1, int(explicit))
    per_host = int(hyperparameters.get("sagemaker_mpi_num_of_processes_per_host") or 1)
    return max(1, per_host) * instance_count


def mpirun_argv(
    mpirun: str,
    hyperparameters: Mapping[str, str],
    instance_count: int,
    python: str,
    spec_path: Path,
) -> list[str]:
    """The command that runs every rank of a job's bootstrap under ``mpirun``.

    ``--tag-output`` prefixes each line with ``[jobid,rank]<stdout>:`` as on SageMaker (the
    SDK's metrics parser reads the rank from it); ``sagemaker_mpi_custom_mpi_options`` is
    appended as extra mpirun options.
    """
    custom: Sequence[str] = shlex.split(
        str(hyperparameters.get("sagemaker_mpi_custom_mpi_options") or "")
    )
    return [
        mpirun,
        "--allow-run-as-root",
        "--oversubscribe",
        "--tag-output",
        "--bind-to",
        "none",
        "-np",
        str(rank_count(hyperparameters, instance_count)),
        *custom,
        python,
        "-m",
        "hybridjobs.bootstrap",
        str(spec_path),
    ]
