"""The job contract suite of ``tests/jobs`` again, on the Ray runner.

Every ``test_*`` function of the modules below is collected here too, where the ``jobs``
and ``servers`` fixtures (``raycluster/conftest.py``) start ``--runner ray`` servers on a
two-node Ray cluster shared by the module: the instances run in agents on the cluster's
nodes, reaching the service only through its AWS surfaces. A test added to one of those
modules runs on both runners without further work; only ``LOCAL_ONLY`` is left out.
"""

from __future__ import annotations

from jobs.contract import collect_contract_tests

# The service's archive limits travel in each instance's plan to the node that unpacks it.
from ops.test_archive_limits import test_the_limits_are_settings_that_reach_the_instance

__all__ = ["test_the_limits_are_settings_that_reach_the_instance"]

LOCAL_ONLY = frozenset(
    {
        # MPI jobs (sagemaker_mpi_enabled) run under mpirun on the service's machine, a
        # feature of the local runner only: the cluster supervisor fails them by design,
        # with a reason saying so (test_ray_runner.py checks that reason).
        "test_mpi_without_mpirun_fails_with_advice",
        "test_mpi_job_runs_every_rank_under_mpirun",
    }
)

collect_contract_tests(globals(), leave_out=LOCAL_ONLY)
