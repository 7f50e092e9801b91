"""The sandbox a forked warm instance makes for itself (``hybridjobs.sandbox.inplace``).

Each test runs a real Python process that calls :func:`enter` with the plan of the
service's own bubblewrap layout, then reports from inside what it sees. The same checks
run as root and in a user namespace (the path every non-root service takes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from hybridjobs.gpus import gpu_device_nodes
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.sandbox.bwrap import BwrapSandbox, runtime_roots
from hybridjobs.sandbox.newroot import BoxPlan, PlanError
from hybridjobs.sandbox.select import probe_in_place

BWRAP = shutil.which("bwrap")
pytestmark = pytest.mark.skipif(BWRAP is None, reason="bubblewrap is not installed here")

ENTER = """
import json, os, sys
from pathlib import Path
from hybridjobs.sandbox.inplace import enter
from hybridjobs.sandbox.newroot import BoxPlan
plan = BoxPlan.from_bwrap_argv(json.loads(sys.argv[1]))
enter(plan, [], 2, user_namespace=json.loads(sys.argv[2]))
"""

REPORT = """
def writable(path):
    try:
        open(path, "a").close()
        return True
    except OSError:
        return False

status = open("/proc/self/status").read()
print(json.dumps({
    "pid": os.getpid(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "uid": os.getuid(),
    "hostname": os.uname().nodename,
    "root": sorted(os.listdir("/")),
    "opt_ml": sorted(os.listdir("/opt/ml")),
    "braket": os.path.realpath("/opt/braket"),
    "secret_seen": os.path.exists(sys.argv[3]),
    "hidden_listing": os.listdir(sys.argv[4]) if os.path.isdir(sys.argv[4]) else None,
    "writable": {p: writable(p) for p in (
        "/usr/hj-probe", "/etc/hj-probe", "/sys/fs/cgroup/hj-probe",
        "/proc/sys/kernel/hostname", "/opt/ml/written", "/tmp/written",
    )},
    "cap_eff": int(status.split("CapEff:")[1].split()[0], 16),
    "no_new_privs": status.split("NoNewPrivs:")[1].split()[0],
}))
"""


def _layout(tmp_path: Path) -> tuple[BwrapSandbox, InstanceBox, Path, Path]:
    """A sandbox like the service's, hiding ``data`` (which holds a secret file)."""
    data = tmp_path / "data"
    data.mkdir()
    secret = data / "secret.txt"
    secret.write_text("not for jobs")
    instance = tmp_path / "instance"
    (instance / "input").mkdir(parents=True)
    assert BWRAP is not None
    sandbox = BwrapSandbox(BWRAP, runtime_roots([sys.executable]), [data])
    box = InstanceBox(name="probe", host="algo-3", instance_dir=instance)
    return sandbox, box, data, secret


def _run(
    tmp_path: Path, body: str, user_namespace: bool, *extra: str, **popen: Any
) -> subprocess.CompletedProcess[str]:
    sandbox, box, data, secret = _layout(tmp_path)
    script = tmp_path / "enter.py"
    script.write_text(ENTER + textwrap.dedent(body))
    argv = json.dumps(sandbox.wrap([], box))
    command = [sys.executable, str(script), argv, json.dumps(user_namespace), str(secret)]
    return subprocess.run(
        [*command, str(data), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
        **popen,
    )


@pytest.mark.parametrize("user_namespace", [False, True], ids=["root-or-user", "user-ns"])
def test_the_instance_sees_only_its_box(tmp_path: Path, user_namespace: bool) -> None:
    done = _run(tmp_path, REPORT, user_namespace)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["pid"] == 2 and seen["pids"] == [1, 2]
    assert seen["uid"] == os.getuid()
    assert seen["hostname"] == "algo-3"
    assert seen["opt_ml"] == ["input"] and seen["braket"] == "/opt/ml"
    assert not seen["secret_seen"] and seen["hidden_listing"] in ([], None)
    assert seen["writable"] == {
        "/usr/hj-probe": False,
        "/etc/hj-probe": False,
        "/sys/fs/cgroup/hj-probe": False,
        "/proc/sys/kernel/hostname": False,
        "/opt/ml/written": True,
        "/tmp/written": True,
    }
    assert seen["cap_eff"] == 0 and seen["no_new_privs"] == "1"
    assert (tmp_path / "instance" / "written").exists()  # /opt/ml is the instance dir
    assert not Path("/tmp/written").exists()  # /tmp is the sandbox's own


@pytest.mark.parametrize("code", [0, 7])
def test_the_caller_ends_with_the_instances_exit_code(tmp_path: Path, code: int) -> None:
    done = _run(tmp_path, f"os._exit({code})", False)
    assert done.returncode == code, done.stderr


def test_the_caller_ends_by_the_signal_that_ended_the_instance(tmp_path: Path) -> None:
    done = _run(tmp_path, "import signal\nos.kill(os.getpid(), signal.SIGUSR1)", False)
    assert done.returncode == -signal.SIGUSR1, done.stderr


def test_a_stop_signal_to_the_group_ends_the_instance_and_everything_it_started(
    tmp_path: Path,
) -> None:
    duration = f"300.{uuid.uuid4().int % 10**9}"  # tells our escapee from other sleeps
    body = f"""
    import subprocess, time
    subprocess.Popen(["sleep", "{duration}"], start_new_session=True)  # an escapee
    print("ready", flush=True)
    time.sleep(300)
    """
    sandbox, box, _, _ = _layout(tmp_path)
    script = tmp_path / "enter.py"
    script.write_text(ENTER + textwrap.dedent(body))
    process = subprocess.Popen(
        [sys.executable, str(script), json.dumps(sandbox.wrap([], box)), "false"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd="/",
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        assert _sleepers(duration), "the escapee should be running"
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == -signal.SIGTERM
        assert not _sleepers(duration)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _sleepers(duration: str) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline == f"sleep\x00{duration}\x00".encode():
            found.add(int(entry))
    return found


def test_a_sandbox_that_cannot_be_made_fails_with_its_reason(tmp_path: Path) -> None:
    sandbox, box, _, _ = _layout(tmp_path)
    argv = sandbox.wrap([], box)
    argv[argv.index("--chdir") : argv.index("--chdir")] = ["--bind", "/no/such/dir", "/x"]
    script = tmp_path / "enter.py"
    script.write_text(ENTER + "print('never')")
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(argv), "false"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "cannot make the instance's sandbox" in done.stderr
    assert "/no/such/dir" in done.stderr


def test_plans_with_options_it_cannot_carry_out_are_refused() -> None:
    base = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    assert BoxPlan.from_bwrap_argv([*base, "--tmpfs", "/tmp", "--"]).steps[0].op == "tmpfs"
    with pytest.raises(PlanError, match="--share-net"):
        BoxPlan.from_bwrap_argv([*base, "--share-net", "--"])
    with pytest.raises(PlanError, match="unshare"):
        BoxPlan.from_bwrap_argv(["bwrap", "--unshare-ipc", "--"])
    with pytest.raises(PlanError, match="only ALL"):
        BoxPlan.from_bwrap_argv([*base, "--cap-drop", "CAP_NET_RAW", "--"])
    with pytest.raises(PlanError, match="needs 2"):
        BoxPlan.from_bwrap_argv([*base, "--bind", "/a"])


def test_the_start_up_probe_passes_where_the_sandbox_works(tmp_path: Path) -> None:
    sandbox, _, _, _ = _layout(tmp_path)
    assert probe_in_place(sandbox) is None


def test_a_gpu_instance_sees_the_gpu_device_nodes_in_both_sandboxes(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "sda"):
        (dev / name).write_text(name)  # stand-ins for the driver's device nodes
    nodes = gpu_device_nodes(dev)
    assert [node.name for node in nodes] == ["nvidia-caps", "nvidia-uvm", "nvidia0", "nvidiactl"]
    sandbox, box, _, _ = _layout(tmp_path)
    box = dataclasses.replace(box, devices=nodes)
    argv = sandbox.wrap([], box)
    assert argv.count("--dev-bind") == 4
    check = f"print(open({str(dev / 'nvidia0')!r}).read(), os.path.exists({str(dev / 'sda')!r}))"
    script = tmp_path / "enter.py"
    script.write_text(ENTER + check)
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(argv), "false"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["nvidia0", "False"]
    cold = subprocess.run(
        [*sandbox.wrap(["cat", str(dev / "nvidia0")], box)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cold.stdout == "nvidia0", cold.stderr
