"""Start-up: the service says which sandbox it uses, and refuses to run jobs unsandboxed
on a shared service unless told it may."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, server_env

from sandbox.conftest import SandboxServerPool


def serve(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``hybridjobs serve`` expecting it to refuse to start; its output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybridjobs.cli",
            "serve",
            "--port",
            "1",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({DUMMY_ACCESS_KEY: DUMMY_SECRET_KEY}))
    return path


def test_without_bubblewrap_a_shared_service_refuses_to_start(tmp_path: Path, keys: Path) -> None:
    output = serve(tmp_path / "data", "--credentials-file", str(keys), env={"PATH": "/nonexistent"})
    assert "will not start" in output and "bubblewrap (bwrap) is not installed" in output, output
    assert "--allow-unsandboxed" in output


def test_sandbox_none_on_a_shared_service_needs_permission(tmp_path: Path, keys: Path) -> None:
    output = serve(tmp_path / "data", "--credentials-file", str(keys), "--sandbox", "none")
    assert "--sandbox none was asked for" in output and "--allow-unsandboxed" in output, output


def test_bwrap_asked_for_without_bubblewrap_refuses_even_on_loopback(tmp_path: Path) -> None:
    output = serve(tmp_path / "data", "--sandbox", "bwrap", env={"PATH": "/nonexistent"})
    assert "bubblewrap (bwrap) is not installed" in output, output


def test_allowed_unsandboxed_service_starts_and_says_so(tmp_path: Path, keys: Path) -> None:
    pool = SandboxServerPool(lambda: tmp_path / "allowed")
    try:
        kit = pool.start(
            env={"PATH": "/nonexistent", "HYBRIDJOBS_SANDBOX": "auto"},
            extra_args=("--credentials-file", str(keys), "--allow-unsandboxed"),
        )
        assert "job instances: sandbox: none (bubblewrap (bwrap) is not installed)" in (
            kit.server.log_text()
        )
    finally:
        pool.close()


PEEK = """
import json, os, pathlib, socket
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(json.dumps({
    "hostname": socket.gethostname(),
    "results_dir": os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"],
    "pid": os.getpid(),
}))
"""


def test_the_default_on_loopback_is_the_sandbox_where_it_works(tmp_path: Path) -> None:
    pool = SandboxServerPool(lambda: tmp_path / "default")
    try:
        kit = pool.start(env={"HYBRIDJOBS_SANDBOX": "auto"})  # no keys, loopback: one user
        assert "job instances: sandbox: bubblewrap; warm starts sandbox themselves" in (
            kit.server.log_text()
        )
        seen = kit.results_json(kit.run_ok(PEEK))
        assert seen["results_dir"] == "/opt/ml/model" and seen["hostname"] == "algo-1", seen
    finally:
        pool.close()


def test_without_bubblewrap_one_user_on_loopback_runs_unsandboxed_and_is_told(
    tmp_path: Path,
) -> None:
    pool = SandboxServerPool(lambda: tmp_path / "plain")
    try:
        kit = pool.start(env={"PATH": "/nonexistent", "HYBRIDJOBS_SANDBOX": "auto"})
        assert "job instances: sandbox: none (bubblewrap (bwrap) is not installed)" in (
            kit.server.log_text()
        )
        seen = kit.results_json(kit.run_ok(PEEK))
        assert seen["results_dir"] != "/opt/ml/model", seen
    finally:
        pool.close()
