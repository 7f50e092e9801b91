"""The job contract suite: the ``tests/jobs`` modules every runner and launch path must
pass, and the function that collects their tests into another test module."""

from __future__ import annotations

from collections.abc import Collection
from types import ModuleType
from typing import Any

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


def collect_contract_tests(namespace: dict[str, Any], leave_out: Collection[str] = ()) -> None:
    """Put every ``test_*`` function of the contract modules into ``namespace`` (a test
    module's ``globals()``), but those named in ``leave_out``, which must all exist."""
    missing = set(leave_out)
    for module in CONTRACT_MODULES:
        for name in dir(module):
            if not name.startswith("test_"):
                continue
            if name in leave_out:
                missing.discard(name)
                continue
            assert name not in namespace, f"two contract tests are named {name}"
            namespace[name] = getattr(module, name)
    assert not missing, f"leave_out names tests that do not exist: {sorted(missing)}"
