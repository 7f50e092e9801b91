"""Fixtures of the operations tests: job-running servers of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs.conftest import ServerPool


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    """Start job-running servers (``servers.start(env=...)``); reaped at the end."""
    counter = iter(range(1_000))
    pool = ServerPool(lambda: tmp_path / f"server-{next(counter)}")
    try:
        yield pool
    finally:
        pool.close()
