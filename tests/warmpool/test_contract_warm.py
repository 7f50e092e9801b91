"""The job contract suite of ``tests/jobs`` again, on the warm path.

Every ``test_*`` function of the modules below is collected here too, where the ``jobs``
and ``servers`` fixtures (``warmpool/conftest.py``) start servers whose instances fork
from a warm zygote. A test added to one of those modules runs on both paths without
further work. The fixtures fail the module if any instance fell back to the cold path.
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

for _module in CONTRACT_MODULES:
    for _name in dir(_module):
        if _name.startswith("test_"):
            assert _name not in globals(), f"two contract tests are named {_name}"
            globals()[_name] = getattr(_module, _name)
del _module, _name
