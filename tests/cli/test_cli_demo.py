"""``hybridjobs demo``: with an embedded service, and against a running one."""

from __future__ import annotations

import re
import subprocess
import sys

from support.cli import cli_env, explain, hybridjobs, ok
from support.server import LiveServer, _wait_group_gone, free_port

RESULT = re.compile(r"MaxCut: cut (\d) of a maximum 7 \(partition [01]{6}\)")


def test_demo_starts_an_embedded_service_and_leaves_nothing_behind() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "hybridjobs.cli", "demo", "--embedded", "--iterations", "15"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(None),
        start_new_session=True,
    )
    out, err = process.communicate(timeout=120)
    report = f"exit {process.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    assert process.returncode == 0, report
    assert "starting an embedded hybridjobs service" in out
    for expected in ("STARTING_INSTANCE", "algo-1 | ", "algo-2 | ", "(iteration 15)", "COMPLETED"):
        assert expected in out, report
    match = RESULT.search(out)
    assert match is not None, report
    assert int(match[1]) >= 6, report
    assert out.rstrip().endswith("embedded service stopped"), report
    assert _wait_group_gone(process.pid, deadline_seconds=5.0) == []


def test_demo_uses_a_running_service(server: LiveServer) -> None:
    result = ok("demo", "--iterations", "5", endpoint=server.url)
    assert f"using the hybridjobs service at {server.url}" in result.stdout
    assert RESULT.search(result.stdout) is not None, result.stdout
    assert "embedded" not in result.stdout


def test_demo_with_a_named_endpoint_that_is_down_exits_4() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    result = hybridjobs("demo", "--endpoint", down, endpoint=None)
    assert result.returncode == 4, explain(result)
    assert result.stderr == f"error: no hybridjobs service answers at {down}\n"
