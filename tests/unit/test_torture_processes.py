"""The torture benchmark's orphan check sees instances that name no server path.

A sandboxed instance runs under ``/opt/ml`` in its own mount namespace: neither its
command line nor its working directory names the data directory. The benchmark finds it
by its job's ``AMZN_BRAKET_JOB_TOKEN`` in its environment; this runs a real process so
placed and checks that it is found by the token, and not without it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def torture(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.torture")


@pytest.fixture
def instance_like(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process outside ``tmp_path`` (cwd ``/``, no path argument) holding a job token;
    it waits on its standard input, so closing it ends the process."""
    env = {"PATH": os.environ.get("PATH", ""), "AMZN_BRAKET_JOB_TOKEN": "tok-under-test"}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        cwd="/",
        env=env,
    )
    try:
        yield process
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def test_a_process_is_found_by_its_job_token(
    torture: ModuleType, instance_like: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    found = torture.processes_naming(data_dir, frozenset({"tok-under-test"}))
    without = torture.processes_naming(data_dir, frozenset({"another-token"}))

    assert found.get(instance_like.pid) == os.getpid()
    assert instance_like.pid not in without


def test_a_process_is_found_by_its_working_directory(torture: ModuleType, tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, cwd=tmp_path
    ) as process:
        try:
            found = torture.processes_naming(tmp_path)
            described = torture._describe(process.pid)
        finally:
            assert process.stdin is not None
            process.stdin.close()

    assert process.pid in found
    assert f"parent {os.getpid()}" in described and "cgroup " in described
