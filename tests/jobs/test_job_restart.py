"""A restart of the service during a run: instances that survived are re-attached, and
instances that died while the service was down fail the job with a reason that says so."""

from __future__ import annotations

import functools
from pathlib import Path

from jobs.conftest import JobKit, ServerPool, event_types, wait_until

LINES = 30
# Prints half its lines (and the start of one more), waits for the test's release file
# (so the instances are surely alive across the restart), then prints the rest.
PRINTER = f"""
import json, os, pathlib, sys, time

def main(release: str):
    host = os.environ["SM_CURRENT_HOST"]
    for i in range({LINES}):
        if i == {LINES // 2}:
            print(f"{{host}} partial", end="", flush=True)
            while not pathlib.Path(release).exists():
                time.sleep(0.05)
            print(" line completed after the restart")
        print(f"{{host}} line {{i}}")
        if i % 7 == 0:
            print(f"{{host}} to stderr {{i}}", file=sys.stderr)
        time.sleep(0.02)
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
        json.dumps({{"host": host, "lines": {LINES}}}))
"""


def _printed(host: str) -> list[str]:
    """Every line PRINTER prints, in order (stdout and stderr go to one stream)."""
    lines: list[str] = []
    for i in range(LINES):
        if i == LINES // 2:
            lines.append(f"{host} partial line completed after the restart")
        lines.append(f"{host} line {i}")
        if i % 7 == 0:
            lines.append(f"{host} to stderr {i}")
    return lines


def _printed_half(kit: JobKit, arn: str, host: str) -> bool:
    return f"{host} line {LINES // 2 - 1}" in kit.shipped_lines(arn, host)


def _start_and_crash(servers: ServerPool, release: Path) -> tuple[JobKit, str]:
    """Start a 2-instance printing job, wait until it printed half its lines, SIGKILL the
    server."""
    first = servers.start()
    arn = first.create(
        PRINTER,
        entry_point="printer:main",
        instanceConfig={"instanceCount": 2},
        hyperParameters={"release": str(release)},
    )
    job = first.wait(arn, ["RUNNING"])
    wait_until(lambda: "RUNNING" in event_types(first.braket.get_job(jobArn=arn)), 10, "RUNNING")
    for host in ("algo-1", "algo-2"):
        wait_until(functools.partial(_printed_half, first, arn, host), 20, f"{host}'s lines")
    first.crash()
    assert job["status"] == "RUNNING"
    assert first.recorded_hosts(arn) == ["algo-1", "algo-2"]
    assert len(first.processes(arn)) >= 2, "the instances should outlive the server"
    return first, arn


def test_restart_reattaches_and_ships_every_line_once(servers: ServerPool, tmp_path: Path) -> None:
    release = tmp_path / "release"
    first, arn = _start_and_crash(servers, release)
    second = servers.start(data_dir=first.data_dir)
    assert second.braket.get_job(jobArn=arn)["status"] == "RUNNING"
    assert len(second.processes(arn)) >= 2
    release.touch()
    job = second.wait(arn, ["COMPLETED"], timeout=30)

    assert second.results_json(job)["host"] == "algo-1"
    for host in ("algo-1", "algo-2"):
        shipped = second.shipped_lines(arn, host)
        assert [m for m in shipped if m.startswith(f"{host} ")] == _printed(host), shipped
        raw = second.raw_log_lines(arn, host)  # kept by local runners only
        assert raw is None or shipped == raw, f"{host}: shipped lines differ from the output"
    types = event_types(job)
    assert types.count("RUNNING") == 1 and types[-2:] == ["UPLOADING_RESULTS", "COMPLETED"]
    second.assert_no_processes(arn)


def test_instances_killed_while_the_service_is_down_fail_the_job(
    servers: ServerPool, tmp_path: Path
) -> None:
    first, arn = _start_and_crash(servers, tmp_path / "never-released")
    first.kill_instances(arn)
    wait_until(lambda: not first.processes(arn), 5, "the instances to die")

    second = servers.start(data_dir=first.data_dir)
    job = second.wait(arn, ["FAILED"], timeout=20)
    reason = job["failureReason"]
    assert "exit code: 137" in reason, reason
    assert "not running" in reason or "restart" in reason, reason
    assert not second.results_path(job).exists()
    second.assert_no_processes(arn)
