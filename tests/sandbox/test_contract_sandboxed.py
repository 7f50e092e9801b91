"""The job contract suite of ``tests/jobs`` again, every instance inside the bubblewrap
sandbox (the ``jobs`` and ``servers`` fixtures of ``sandbox/conftest.py``).

Left out: the tests that reach into the instance through the host, which the sandbox
exists to prevent — a release file in the test's own temporary directory, host paths
expected in the job's environment, pids the job reports from inside its PID namespace.
What they check is covered here through the sandbox's own view (``test_sandbox_*``).
"""

from __future__ import annotations

from jobs.contract import collect_contract_tests

HOST_VIEW_TESTS = (
    "test_checkpoint_of_one_job_is_restored_in_the_next",  # asserts a host path
    "test_checkpoints_are_uploaded_while_the_job_runs",  # host release file
    "test_three_instances_results_events_and_billing",  # host paths in the environment
    "test_cancel_running_multi_instance_job_leaves_no_process",  # pids from inside
    "test_restart_reattaches_and_ships_every_line_once",  # host release file
)

collect_contract_tests(globals(), leave_out=HOST_VIEW_TESTS)
