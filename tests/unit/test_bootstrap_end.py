"""The bootstrap's end of an instance: the threads it waits for, the group it ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from hybridjobs.instanceend import group_members, non_daemon_threads


def test_non_daemon_threads_names_live_non_daemon_threads_only() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="hj-worker")
    helper = threading.Thread(target=release.wait, name="hj-helper", daemon=True)
    worker.start()
    helper.start()
    try:
        names = non_daemon_threads()
        assert "hj-worker" in names
        assert "hj-helper" not in names
        assert threading.main_thread().name not in names
    finally:
        release.set()
        worker.join()
        helper.join()
    assert "hj-worker" not in non_daemon_threads()


GROUP_SCRIPT = """
import json, os, signal, subprocess, sys, time
from hybridjobs.instanceend import end_process_group, group_members

plain = subprocess.Popen(["sleep", "1000"])
stubborn = subprocess.Popen(
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
     "print('ready', flush=True); time.sleep(1000)"],
    stdout=subprocess.PIPE,
)
stubborn.stdout.readline()
# A grandchild whose parent is gone (re-parented, still in the group).
orphan = subprocess.run(
    ["sh", "-c", "sleep 1002 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
)
before = sorted(group_members())
started = time.monotonic()
signalled = sorted(end_process_group(grace=0.5))
took = time.monotonic() - started
after = group_members()
print(json.dumps({
    "me": os.getpid(), "pgrp": os.getpgrp(), "before": before, "signalled": signalled,
    "after": after, "took": took,
    "children": [plain.pid, stubborn.pid, int(orphan.stdout.strip())],
    "plain": plain.wait(), "stubborn": stubborn.wait(),
}))
"""


def _run(script: str, new_session: bool) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=new_session,
        check=True,
    )
    out: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    out["stderr"] = result.stderr
    return out


def test_end_process_group_terms_then_kills_every_other_member() -> None:
    out = _run(GROUP_SCRIPT, new_session=True)
    assert out["me"] == out["pgrp"]
    children = out["children"]
    assert isinstance(children, list)
    assert sorted(children) == out["before"] == out["signalled"]
    assert out["after"] == []
    assert out["plain"] == -15  # SIGTERM
    assert out["stubborn"] == -9  # ignored SIGTERM, so SIGKILL after the grace
    took = out["took"]
    assert isinstance(took, float) and 0.4 < took < 5
    stderr = str(out["stderr"])
    assert "stopping what it left in its process group" in stderr
    assert f"{children[0]} (sleep)" in stderr


def test_end_process_group_leaves_a_group_it_does_not_lead_alone() -> None:
    script = """
    import json, subprocess
    from hybridjobs.instanceend import end_process_group
    child = subprocess.Popen(["sleep", "1000"])
    signalled = end_process_group(grace=0.1)
    alive = child.poll() is None
    child.kill()
    child.wait()
    print(json.dumps({"signalled": signalled, "alive": alive}))
    """
    out = _run(script, new_session=False)
    assert out["signalled"] == [] and out["alive"] is True


def test_end_process_group_with_nothing_left_is_quick() -> None:
    script = """
    import json, time
    from hybridjobs.instanceend import end_process_group
    started = time.monotonic()
    signalled = end_process_group()
    print(json.dumps({"signalled": signalled, "took": time.monotonic() - started}))
    """
    out = _run(script, new_session=True)
    assert out["signalled"] == []
    took = out["took"]
    assert isinstance(took, float) and took < 0.5
    assert out["stderr"] == ""


def test_group_members_excludes_this_process_and_other_groups() -> None:
    assert os.getpid() not in group_members()
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert child.pid not in group_members()
        assert group_members(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert group_members(child.pid) == []


def test_cold_bootstrap_ends_its_group_at_exit(tmp_path: Path) -> None:
    """``python -m hybridjobs.bootstrap`` (a session leader) ends the group after the
    interpreter has joined its threads and run the job's atexit handlers."""
    marker = tmp_path / "atexit-saw-child-alive"
    script = f"""
    import atexit, os, runpy, subprocess, sys, pathlib
    from hybridjobs import bootstrap
    child = subprocess.Popen(["sleep", "1000"])
    pathlib.Path({str(tmp_path / "pid")!r}).write_text(str(child.pid))
    # main() would run the instance; the hooks are what matter here.
    bootstrap.main = lambda argv=None: 0
    bootstrap.process_main()
    atexit.register(
        lambda: pathlib.Path({str(marker)!r}).write_text(str(child.poll() is None))
    )
    """
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        timeout=60,
        start_new_session=True,
        check=True,
        capture_output=True,
    )
    assert marker.read_text() == "True"
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")
