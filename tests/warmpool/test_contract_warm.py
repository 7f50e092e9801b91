"""The job contract suite of ``tests/jobs`` again, on the warm path.

Every ``test_*`` function of the modules below is collected here too, where the ``jobs``
and ``servers`` fixtures (``warmpool/conftest.py``) start servers whose instances fork
from a warm zygote. A test added to one of those modules runs on both paths without
further work. The fixtures fail the module if any instance fell back to the cold path.
"""

from __future__ import annotations

from jobs.contract import collect_contract_tests

collect_contract_tests(globals())
