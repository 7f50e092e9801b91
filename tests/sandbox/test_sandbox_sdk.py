"""The Braket SDK's ``@hybrid_job`` inside the sandbox: its inner function, and its
``input_data`` links at absolute paths, which the SDK's prelude makes inside the sandbox
exactly as inside a Braket container (the user's own files are untouched)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk.conftest import REGION, SDK_SERVER_ENV
from sdk.test_sdk_jobs import (
    test_hybrid_job_decorator,
    test_hybrid_job_decorator_with_absolute_input_paths,
)
from support.braket import point_sdk_at
from support.server import LiveServer, start_server

from sandbox.conftest import SANDBOX_ENV

__all__ = [
    "test_hybrid_job_decorator",
    "test_hybrid_job_decorator_with_absolute_input_paths",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A sandboxed live server for the SDK tests of this module."""
    live = start_server(tmp_path_factory.mktemp("sdk-boxed"), env={**SDK_SERVER_ENV, **SANDBOX_ENV})
    try:
        yield live
    finally:
        code = live.stop()
    assert code == 0, f"server exited with {code}\n{live.log_tail()}"


@pytest.fixture
def user_env(server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SDK pointed at the sandboxed server; CWD is a fresh directory."""
    return point_sdk_at(monkeypatch, server.url, REGION, tmp_path)
