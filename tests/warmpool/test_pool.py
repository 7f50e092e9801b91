"""The warm pool itself: zygotes start, fork instances, report exits, die and are replaced,
and leave nothing behind; at the Python level (``WarmPool``) and in a live server."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs.conftest import JobKit, ServerPool, live_processes, tar_gz, wait_until

from hybridjobs.objects import LocalObjectStore
from hybridjobs.runners import contract
from hybridjobs.runners.embryo import declares_requirements
from hybridjobs.runners.local import ColdLauncher, InstanceHandle
from hybridjobs.runners.warmlauncher import WarmLauncher
from hybridjobs.runners.warmpool import ForkedInstanceHandle, WarmPool
from warmpool.conftest import WARM_ENV, pool_status, wait_pool_full

LIGHT_PRELOAD = ["json", "numpy"]
READY_SECONDS = 120.0
BUCKET = "hj-pool"


class Exits:
    """Counts the pool's exit reports; ``wait(n)`` blocks until ``n`` have arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.pids: list[int] = []
        self._cond = threading.Condition()

    def __call__(self, pid: int) -> None:
        with self._cond:
            self.pids.append(pid)
            self.count += 1
            self._cond.notify_all()

    def wait(self, n: int, timeout: float = 60.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= n, timeout)


def pool_processes(pool_dir: Path) -> list[int]:
    """Live processes of one pool: zygotes, embryos and forked instances share its tag."""
    tag = str(pool_dir.resolve())
    return [
        p.pid
        for p in live_processes()
        if "hybridjobs.runners.zygote" in p.cmdline and tag in p.cmdline
    ]


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[WarmPool, Exits]]:
    """A started one-zygote pool (light preload); stopped, and checked empty, at the end."""
    exits = Exits()
    warm = WarmPool(sys.executable, 1, LIGHT_PRELOAD, tmp_path / "pool", exits)
    warm.start()
    try:
        assert warm.wait_ready(READY_SECONDS), warm.status()
        yield warm, exits
    finally:
        warm.stop()
        wait_until(lambda: not pool_processes(tmp_path / "pool"), 10, "the pool's processes to end")


def instance(
    tmp_path: Path, script: str, python: str, name: str = "job"
) -> tuple[Path, dict[str, str], contract.InstancePaths]:
    """Lay out one instance of a one-file job (as the supervisor does); its spec, env, paths."""
    objects = LocalObjectStore(tmp_path / "objects")
    objects.put_bytes(BUCKET, f"{name}/script.py", script.encode())
    request = {
        "jobName": name,
        "algorithmSpecification": {
            "scriptModeConfig": {"entryPoint": "script", "s3Uri": f"s3://{BUCKET}/{name}/script.py"}
        },
        "outputDataConfig": {"s3Path": f"s3://{BUCKET}/{name}/out"},
        "instanceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1},
        "deviceConfig": {"device": "local:braket/default"},
    }
    launch = contract.InstanceLaunch(
        job_arn=f"arn:aws:braket:us-east-1:000000000000:job/{name}",
        job_name=name,
        job_id=name,
        request=request,
        host_index=1,
        hosts=["algo-1"],
        job_dir=tmp_path / "jobs" / name,
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="key",
        secret_access_key="secret",
        job_token=name,
        master_port=1,
        python=python,
        instance_resources=(2, 8.0, 0),
        objects=objects.config(),
        requirements_cache_dir=tmp_path / "cache",
    )
    paths = contract.prepare_instance_dirs(launch)
    env = contract.build_environment(launch, paths)
    return contract.write_instance_spec(launch, paths, env), env, paths


def test_forked_instance_runs_and_its_exit_is_reported(
    pool: tuple[WarmPool, Exits], tmp_path: Path
) -> None:
    warm, exits = pool
    spec, env, paths = instance(
        tmp_path, "import sys; print('hello from a fork'); sys.exit(3)", warm.python
    )
    handle = warm.spawn("algo-1", spec, env, paths.instance_dir, paths.log_file, paths.exit_file)
    assert isinstance(handle, ForkedInstanceHandle)
    assert handle.start_time > 0
    assert exits.wait(1), "no exit report"
    assert exits.pids == [handle.pid]
    assert handle.exit_code() == 3 and not handle.is_alive()
    assert paths.exit_file.read_text().strip() == "3"
    assert "hello from a fork" in paths.log_file.read_text()
    assert warm.status()["spawned"] == 1


def test_zygotes_fork_single_threaded(pool: tuple[WarmPool, Exits]) -> None:
    """numpy's OpenBLAS starts worker threads at import; the zygote ends them before forking."""
    warm, _ = pool
    [zygote] = warm.status()["zygotes"]
    assert zygote["threads"] == 1 and zygote["os_threads"] == 1, zygote
    assert len(os.listdir(f"/proc/{zygote['pid']}/task")) == 1


def test_instance_killed_by_a_signal_reports_128_plus_the_signal(
    pool: tuple[WarmPool, Exits], tmp_path: Path
) -> None:
    warm, exits = pool
    script = "import os, signal; print('up', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    spec, env, paths = instance(tmp_path, script, warm.python)
    handle = warm.spawn("algo-1", spec, env, paths.instance_dir, paths.log_file, paths.exit_file)
    assert handle is not None
    assert exits.wait(1)
    assert handle.exit_code() == 137


def test_zygote_crash_is_noticed_and_replaced(pool: tuple[WarmPool, Exits], tmp_path: Path) -> None:
    warm, _ = pool
    [victim] = warm.zygote_pids()
    os.kill(victim, signal.SIGKILL)
    assert warm.wait_for(lambda: warm.crashes == 1, 30), warm.status()
    assert warm.wait_ready(READY_SECONDS), warm.status()
    [replacement] = warm.zygote_pids()
    assert replacement != victim
    # Its embryo went with it: only the replacement zygote and its embryo are left.
    wait_until(lambda: len(pool_processes(tmp_path / "pool")) == 2, 30, "the old embryo to exit")


def test_launcher_goes_cold_without_a_zygote_or_for_another_interpreter(tmp_path: Path) -> None:
    python = sys.executable
    empty = WarmPool(python, 1, LIGHT_PRELOAD, tmp_path / "pool")  # never started: no zygote
    launcher = WarmLauncher(empty, ColdLauncher(python))
    spec, env, paths = instance(tmp_path, "print('cold')", python)
    handle = launcher.launch(
        "algo-1", spec, env, paths.instance_dir, paths.log_file, paths.exit_file, python
    )
    assert type(handle) is InstanceHandle and handle.popen is not None
    assert handle.popen.wait(60) == 0
    assert launcher.status()["launches"] == {"warm": 0, "cold": 1}
    assert empty.status()["fallbacks"] == 1


def test_requirements_are_detected_in_archives_and_single_files(tmp_path: Path) -> None:
    cases = {
        "with.tar.gz": (tar_gz({"pkg/requirements.txt": "numpy\n", "job.py": ""}), True),
        "comments.tar.gz": (tar_gz({"requirements.txt": "# nothing\n\n", "job.py": ""}), False),
        "without.tar.gz": (tar_gz({"job.py": "print(1)"}), False),
        "requirements.txt": (b"requests\n", True),
        "job.py": (b"print(1)\n", False),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert declares_requirements(path) is expected, name


def test_killed_zygote_is_replaced_and_the_next_job_still_runs(tmp_path: Path) -> None:
    """In a live server: SIGKILL the only zygote, submit a job at once; the job runs (cold,
    since the replacement is still importing), the pool recovers its size, and stopping the
    server leaves no process of the pool behind."""
    servers = ServerPool(lambda: tmp_path / "server")
    try:
        kit: JobKit = servers.start(env=WARM_ENV)
        [victim] = [z["pid"] for z in wait_pool_full(kit)["zygotes"]]
        os.kill(victim, signal.SIGKILL)
        job = kit.run_ok("print('still runs')", timeout=120)
        assert "still runs" in kit.logs(job["jobArn"])
        recovered = wait_pool_full(kit)
        assert [z["pid"] for z in recovered["zygotes"]] != [victim]
        assert recovered["crashes"] == 1
        assert recovered["launches"] == {"warm": 0, "cold": 1}
        kit.server.stop()
        wait_until(lambda: not pool_processes(kit.data_dir / "warm-pool"), 10, "the pool to end")
    finally:
        servers.close()


def test_no_warm_pool_flag_disables_the_pool(tmp_path: Path) -> None:
    servers = ServerPool(lambda: tmp_path / "server")
    try:
        kit = servers.start(env=WARM_ENV, extra_args=("--no-warm-pool",))
        assert pool_status(kit) == {"enabled": False}
        assert not pool_processes(kit.data_dir / "warm-pool")
    finally:
        servers.close()


def test_zygotes_end_when_the_service_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the service (no chance to stop its pool): each zygote sees the end of
    its channel and exits, and so does its embryo."""
    servers = ServerPool(lambda: tmp_path / "server")
    try:
        kit = servers.start(env=WARM_ENV)
        wait_pool_full(kit)
        assert pool_processes(kit.data_dir / "warm-pool")
        kit.crash()
        wait_until(lambda: not pool_processes(kit.data_dir / "warm-pool"), 15, "the pool to end")
    finally:
        servers.close()
