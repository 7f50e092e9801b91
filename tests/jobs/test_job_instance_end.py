"""How an instance ends, on the cold and the warm path (issue 16).

* the processes an entry point leaves in the instance's process group end with it;
* non-daemon threads still keep a finished entry point alive, and the log names them;
* user code runs in a clean interpreter state: no exception being handled, no frames of
  the warm pool's zygote in its tracebacks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from warmpool.conftest import WarmServerPool, assert_all_launches_warm

from jobs.conftest import JobKit, wait_until

WARM_LIGHT_ENV = {"HYBRIDJOBS_WARM_POOL_PRELOAD": json.dumps(["json"])}
"""A zygote that preloads little: ready in a second or two."""


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """A job-running server whose instances fork from a zygote."""
    pool = WarmServerPool(lambda: tmp_path_factory.mktemp("warm-end"))
    kit = pool.start(env=WARM_LIGHT_ENV)
    try:
        yield kit
        assert_all_launches_warm(kit)
    finally:
        pool.close()


@pytest.fixture(params=["cold", "warm"])
def kit(request: pytest.FixtureRequest) -> JobKit:
    """The module's cold server (``jobs``) or its warm one."""
    server: JobKit = request.getfixturevalue("jobs" if request.param == "cold" else "warm")
    return server


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return None


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def _is_ours(pid: int, cmdline: str) -> bool:
    """Whether ``pid`` still runs ``cmdline`` (a zombie or a reused pid does not count)."""
    return _cmdline(pid) == cmdline and _state(pid) not in (None, "Z", "X")


LEAVES_SLEEP = """
import json, os, pathlib, subprocess

child = subprocess.Popen(["sleep", "1000"])
stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 1001 & wait"])
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
    json.dumps({"sleep": child.pid, "stubborn": stubborn.pid})
)
"""


def test_children_left_behind_end_with_the_job(kit: JobKit) -> None:
    job = kit.run_ok(LEAVES_SLEEP)
    pids = kit.results_json(job)
    wait_until(lambda: not _is_ours(pids["sleep"], "sleep 1000"), 5, "the job's sleep 1000 to end")
    wait_until(
        lambda: (
            not any("sleep 1001" in (_cmdline(p.pid) or "") for p in kit.processes(job["jobArn"]))
            and not _is_ours(pids["stubborn"], "sh -c trap '' TERM; sleep 1001 & wait")
        ),
        5,
        "the job's SIGTERM-proof children to end",
    )
    kit.assert_no_processes(job["jobArn"])
    logs = kit.logs(job["jobArn"])
    assert "stopping what it left in its process group" in logs, logs
    assert f"{pids['sleep']} (sleep)" in logs, logs


NON_DAEMON_THREAD = """
import threading, time

threading.Thread(target=time.sleep, args=(1.0,), name="slow-worker").start()
threading.Thread(target=time.sleep, args=(30.0,), name="daemon-worker", daemon=True).start()
"""


def test_non_daemon_thread_is_waited_for_and_named_in_the_log(kit: JobKit) -> None:
    job = kit.run_ok(NON_DAEMON_THREAD)
    logs = kit.logs(job["jobArn"])
    line = (
        "hybridjobs: the entry point returned; waiting for non-daemon threads: slow-worker"
        " (the instance ends when they do)"
    )
    assert line in logs, logs
    assert logs.index("Reporting training SUCCESS") < logs.index(line), logs
    assert "daemon-worker" not in logs, logs


CLEAN_STATE = """
import json, os, pathlib, sys, traceback


def helper():
    return 1 / 0


def main():
    exc_info = repr(sys.exc_info())
    try:
        helper()
    except ZeroDivisionError as exc:
        caught = traceback.format_exc()
        context = repr(exc.__context__)
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
        json.dumps({"exc_info": exc_info, "traceback": caught, "context": context})
    )
"""


def test_user_code_sees_no_exception_being_handled(kit: JobKit) -> None:
    job = kit.run_ok(CLEAN_STATE, entry_point="script:main")
    result = kit.results_json(job)
    assert result["exc_info"] == "(None, None, None)"
    assert result["context"] == "None"
    caught = result["traceback"]
    assert "zygote" not in caught and "EmbryoBorn" not in caught, caught
    assert "During handling" not in caught, caught
    first_frame = caught.splitlines()[1]
    assert "script.py" in first_frame and "in main" in first_frame, caught


RAISES = """
def helper():
    raise ValueError("user error")


def main():
    helper()
"""


def test_traceback_of_an_uncaught_error_starts_at_the_users_code(kit: JobKit) -> None:
    job = kit.run(RAISES, entry_point="script:main")
    assert job["status"] == "FAILED", job
    logs = kit.logs(job["jobArn"])
    assert "ValueError: user error" in logs, logs
    traceback_text = logs[logs.index("Traceback (most recent call last)") :]
    assert "zygote" not in traceback_text and "EmbryoBorn" not in traceback_text, logs
    assert "During handling" not in traceback_text, logs
    assert "script.py" in traceback_text.splitlines()[1], logs
    assert os.sep + "bootstrap.py" not in traceback_text, logs
