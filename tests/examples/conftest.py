"""One live service, with a scheduler and a warm pool, for every example test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.cli import CLI_SERVER_ENV, wait_for_warm_pool
from support.server import LiveServer, start_server


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("examples-server"), env=CLI_SERVER_ENV)
    try:
        wait_for_warm_pool(live.url)
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"
