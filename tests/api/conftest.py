"""Fixtures for the API tests: direct access to the live server's store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.server import LiveServer

from hybridjobs.store.sql import SqlJobStore


@pytest.fixture(scope="module")
def server_store(server: LiveServer) -> Iterator[SqlJobStore]:
    """The store of ``server`` (its SQLite file), for moving jobs where no scheduler runs."""
    store = SqlJobStore(f"sqlite:///{server.data_dir / 'hybridjobs.db'}")
    try:
        yield store
    finally:
        store.close()
