"""Run the ``hybridjobs`` CLI as a subprocess, the way a user would.

``hybridjobs(...)`` starts ``python -m hybridjobs.cli`` with a clean environment: no
``HYBRIDJOBS_*`` or ``AWS_*`` setting of the developer's leaks in, stdin is not a TTY,
the endpoint is the given server's, and colour is off. ``CLI_SERVER_ENV`` is the settings
of the live servers the CLI and example tests drive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridjobs.cli.embedded import fetch_status
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

CLI_SERVER_ENV: dict[str, str] = {
    "HYBRIDJOBS_STOP_GRACE_SECONDS": "2",
    "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
    "HYBRIDJOBS_WARM_POOL_SIZE": "1",
}


def wait_for_warm_pool(
    server_url: str,
    timeout: float = 90.0,
    key: tuple[str, str] | None = (DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY),
) -> None:
    """Block until the service's warm pool is full (``/_hybridjobs/status?wait=``), so the
    first jobs of a suite fork from a zygote instead of racing its start-up cold.

    The request is signed with ``key`` (default: the suite's one key), which a service
    with keys configured requires and one without accepts; ``None`` sends it unsigned."""
    status = fetch_status(server_url, timeout, key)
    pool = status["warm_pool"]
    assert pool["ready"] >= pool["size"], f"the warm pool did not fill: {status}"


def cli_env(endpoint: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment without ``HYBRIDJOBS_*``/``AWS_*``/``NO_COLOR``, pointed at
    ``endpoint`` (when given), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HYBRIDJOBS_", "AWS_", "BRAKET_")) and k != "NO_COLOR"
    }
    env["PYTHONUNBUFFERED"] = "1"
    if endpoint is not None:
        env["HYBRIDJOBS_ENDPOINT"] = endpoint
    env.update(extra or {})
    return env


def hybridjobs(
    *args: str,
    endpoint: str | None,
    timeout: float = 120.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``hybridjobs ARGS`` to completion; stdout and stderr are captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "hybridjobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=cli_env(endpoint, env),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a failed assertion should show about a CLI run."""
    return (
        f"`{' '.join(result.args[3:])}` exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    )


def ok(*args: str, endpoint: str | None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``hybridjobs ARGS``, asserting exit code 0."""
    result = hybridjobs(*args, endpoint=endpoint, **kwargs)
    assert result.returncode == 0, explain(result)
    return result


def results_of(name: str, endpoint: str) -> dict[str, Any]:
    """The results data of job ``name`` (``hybridjobs results NAME --json``)."""
    data: dict[str, Any] = json.loads(ok("results", name, "--json", endpoint=endpoint).stdout)
    return data


def job_of(reference: str, endpoint: str) -> dict[str, Any]:
    """GetJob of a job, looked up in-process through the API (cheaper than a subprocess:
    for checking what a CLI run did, not for testing ``describe``)."""
    from hybridjobs.cli.client import Connection, resolve_job

    return resolve_job(Connection(endpoint, "us-east-1"), reference)


def saved_results(reference: str, endpoint: str, target: Path) -> dict[str, Any]:
    """The results data of a completed job, downloaded in-process through the S3 API into
    ``target`` (for checking what a CLI run did, not for testing ``results``)."""
    from hybridjobs.cli.client import Connection
    from hybridjobs.cli.results import fetch_results, load_results

    connection = Connection(endpoint, "us-east-1")
    job = job_of(reference, endpoint)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert fetch_results(connection, job, target), f"{reference} saved no results"
    return load_results(target) or {}


def describe_json(name: str, endpoint: str) -> dict[str, Any]:
    """GetJob of job ``name`` (``hybridjobs describe NAME --json``)."""
    data: dict[str, Any] = json.loads(ok("describe", name, "--json", endpoint=endpoint).stdout)
    return data
