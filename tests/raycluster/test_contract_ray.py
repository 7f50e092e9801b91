"""The job contract suite of ``tests/jobs`` again, on the Ray runner.

Every ``test_*`` function of the modules below is collected here too, where the ``jobs``
and ``servers`` fixtures (``raycluster/conftest.py``) start ``--runner ray`` servers on a
two-node Ray cluster shared by the module: the instances run in agents on the cluster's
nodes, reaching the service only through its AWS surfaces. A test added to one of those
modules runs on both runners without further work; only ``LOCAL_ONLY`` is left out.
"""

from __future__ import annotations

from types import ModuleType

from jobs import (
    test_job_braket_sdk,
    test_job_environment,
    test_job_failures,
    test_job_lifecycle,
    test_job_restart,
    test_job_stopping,
)

CONTRACT_MODULES: tuple[ModuleType, ...] = (
    test_job_lifecycle,
    test_job_failures,
    test_job_stopping,
    test_job_environment,
    test_job_braket_sdk,
    test_job_restart,
)

LOCAL_ONLY = frozenset(
    {
        # MPI jobs (sagemaker_mpi_enabled) run under mpirun on the service's machine, a
        # feature of the local runner only: the cluster supervisor fails them by design,
        # with a reason saying so (test_ray_runner.py checks that reason).
        "test_mpi_without_mpirun_fails_with_advice",
        "test_mpi_job_runs_every_rank_under_mpirun",
    }
)

_left_out = set(LOCAL_ONLY)
for _module in CONTRACT_MODULES:
    for _name in dir(_module):
        if not _name.startswith("test_"):
            continue
        if _name in LOCAL_ONLY:
            _left_out.discard(_name)
            continue
        assert _name not in globals(), f"two contract tests are named {_name}"
        globals()[_name] = getattr(_module, _name)
assert not _left_out, f"LOCAL_ONLY names tests that do not exist: {sorted(_left_out)}"
del _module, _name, _left_out
