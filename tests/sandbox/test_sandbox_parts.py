"""The sandbox's parts on their own: container paths, the bubblewrap mount plan (run for
real), instance cgroups (real cgroups of this host) and sandboxed zygote slots."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from unit.test_contract import make_launch, make_request

from hybridjobs.runners import contract
from hybridjobs.runners.boxedzygote import BoxedZygotes
from hybridjobs.runners.boxlayout import container_view, instance_box
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.sandbox.bwrap import BwrapSandbox, runtime_roots
from hybridjobs.sandbox.cgroups import CgroupRoot, detect_cgroups
from hybridjobs.sandbox.select import choose_sandbox

BWRAP = shutil.which("bwrap") or "bwrap"


def test_container_view_and_box_of_an_sdk_job(tmp_path: Path) -> None:
    request = make_request(checkpointConfig={"localPath": "/opt/jobs/checkpoints"})
    launch = make_launch(tmp_path, request, python=sys.executable)
    paths = contract.prepare_instance_dirs(launch)
    view = container_view(launch, paths)
    assert view.hyperparameters_file == Path("/opt/ml/input/config/hyperparameters.json")
    assert view.model_dir == Path("/opt/ml/model") and view.spec_file == Path("/opt/ml/spec.json")
    assert view.checkpoint_dir == Path("/opt/jobs/checkpoints")
    env = contract.build_environment(launch, view)
    assert env["AMZN_BRAKET_CHECKPOINT_DIR"] == "/opt/jobs/checkpoints"
    assert str(paths.instance_dir) not in json.dumps(env)
    box = instance_box(launch, paths, pids_max=100)
    assert box.memory_bytes == 16 * 2**30 and box.pids_max == 100
    binds = {b.container: b.host for b in box.binds}
    assert binds["/opt/jobs/checkpoints"] == paths.checkpoint_dir


def _run_boxed(sandbox: BwrapSandbox, box: InstanceBox, script: str) -> str:
    argv = sandbox.wrap([sys.executable, "-c", script], box)
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def test_bwrap_shows_roots_read_only_and_covers_the_data_dir(tmp_path: Path) -> None:
    root = tmp_path / "shown"
    (root / "data").mkdir(parents=True)
    (root / "data" / "hybridjobs.db").write_text("secret rows")
    (root / "lib.txt").write_text("library")
    instance = tmp_path / "instance"
    instance.mkdir()
    roots = [*runtime_roots([sys.executable]), root]
    sandbox = BwrapSandbox(BWRAP, roots, [root / "data"])
    box = InstanceBox(name="t", host="algo-3", instance_dir=instance)
    script = f"""
import os, pathlib, socket
root = pathlib.Path({str(root)!r})
print(sorted(os.listdir(root / "data")), (root / "lib.txt").read_text(), socket.gethostname())
try:
    (root / "new.txt").write_text("x")
except OSError as exc:
    print("read-only:", exc.errno)
pathlib.Path("/opt/braket/out.txt").write_text("written")
print(os.getcwd(), sorted(p for p in os.listdir("/proc") if p.isdigit()))
"""
    lines = _run_boxed(sandbox, box, script).splitlines()
    assert lines[0] == "[] library algo-3"
    assert lines[1] == "read-only: 30"  # EROFS
    assert lines[2].startswith("/opt/ml ")
    assert (instance / "out.txt").read_text() == "written"


def test_bwrap_hides_secret_files_under_shown_directories(tmp_path: Path) -> None:
    """An operator's credentials file or TLS key kept under a shown directory (say /etc)
    reads as empty inside the sandbox, while its neighbours stay readable."""
    root = tmp_path / "etc-like"
    root.mkdir()
    (root / "credentials.json").write_text('{"AKID": "operator secret"}')
    (root / "tls.key").write_text("PRIVATE KEY")
    (root / "hosts").write_text("127.0.0.1 localhost")
    instance = tmp_path / "instance"
    instance.mkdir()
    roots = [*runtime_roots([sys.executable]), root]
    secrets = [root / "credentials.json", root / "tls.key", tmp_path / "absent.key"]
    sandbox = BwrapSandbox(BWRAP, roots, secrets)
    box = InstanceBox(name="t", host="algo-1", instance_dir=instance)
    script = f"""
import pathlib
root = pathlib.Path({str(root)!r})
print(repr((root / "credentials.json").read_text()), repr((root / "tls.key").read_text()))
print((root / "hosts").read_text())
"""
    lines = _run_boxed(sandbox, box, script).splitlines()
    assert lines == ["'' ''", "127.0.0.1 localhost"]


@pytest.fixture
def cgroups() -> CgroupRoot:
    root, why = detect_cgroups()
    if root is None:
        pytest.skip(f"this host delegates no cgroups: {why}")
    return root


def test_cgroup_limits_counts_and_kills_everything(cgroups: CgroupRoot) -> None:
    group = cgroups.create("hj-test-parts", 64 * 2**20, 32)
    try:
        started = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import subprocess,sys,time\n"
                "subprocess.Popen(['sleep','300'],start_new_session=True); time.sleep(300)",
            ],
            preexec_fn=group.join,
        )
        deadline = 50
        while len(group.pids()) < 2 and deadline:
            deadline -= 1
            subprocess.run(["sleep", "0.1"], check=True)
        assert len(group.pids()) == 2
        group.kill_all()
        assert group.pids() == set()
        started.wait(timeout=10)
    finally:
        group.kill_all()
        group.remove()
    assert not any(path.exists() for path in group.dirs)


def test_sandbox_none_is_refused_on_a_shared_service_without_permission() -> None:
    from hybridjobs.sandbox.select import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match="--allow-unsandboxed"):
        choose_sandbox("none", False, [sys.executable], [])
    assert choose_sandbox("none", True, [sys.executable], []).sandbox.kind == "none"


def test_a_slot_becomes_the_instance_directory(tmp_path: Path) -> None:
    launch = make_launch(
        tmp_path, make_request(checkpointConfig={"localPath": "/opt/jobs/checkpoints"})
    )
    confinement = choose_sandbox("bwrap", False, [sys.executable], [tmp_path])
    boxed = BoxedZygotes(confinement, tmp_path / "slots", launch.requirements_cache_dir)
    slot = boxed.new_slot(1, "algo-1")
    try:
        paths = contract.prepare_instance_dirs(launch)
        (paths.checkpoint_dir / "restored.json").write_text("{}")
        box = instance_box(launch, paths, pids_max=None)
        assert boxed.accepts(box)
        slot_inode = slot.directory.stat().st_ino
        boxed.install(slot, box, paths.log_file)
        assert paths.instance_dir.stat().st_ino == slot_inode  # what the sandbox bound
        assert (paths.checkpoint_dir / "restored.json").exists()
        assert paths.hyperparameters_file.exists() and paths.log_file.exists()
        assert not slot.directory.exists()
    finally:
        slot.close_log()
        if slot.cgroup is not None:
            slot.cgroup.remove()


def test_slots_left_by_a_crashed_service_are_swept(tmp_path: Path) -> None:
    confinement = choose_sandbox("bwrap", False, [sys.executable], [tmp_path])
    boxed = BoxedZygotes(confinement, tmp_path / "slots", tmp_path / "cache")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = BoxedZygotes(confinement, tmp_path / "slots", tmp_path / "cache")
    made = []
    for owner in (dead.pid, 1):  # a service that is gone; one still running (pid 1)
        slot = stale.new_slot(1, "algo-1")
        slot.close_log()
        name = f"slot-{owner}-1"
        slot.directory.rename(slot.directory.with_name(name))
        slot.log.rename(slot.log.with_name(f"{name}.log"))
        if slot.cgroup is not None:
            slot.cgroup.remove()
            assert confinement.cgroups is not None
            made.append(confinement.cgroups.create(name, None, None))
    try:
        assert boxed.sweep() == 1
        left = sorted(p.name for p in (tmp_path / "slots").iterdir())
        assert left == ["slot-1-1", "slot-1-1.log"], left
        if made:
            assert not any(path.exists() for path in made[0].dirs)
            assert all(path.exists() for path in made[1].dirs)
    finally:
        for group in made:
            group.remove()
