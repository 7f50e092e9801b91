"""The same job contract on both paths: an instance forked from a warm zygote behaves like a
cold one (results, isolation, stopping, exit codes, interpreter exit), except for speed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from typing import Any

import pytest
from jobs.conftest import JobKit, event_types, wait_until

from warmpool.conftest import SENTINEL, pool_status

BELL_JOB = """
from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import save_job_result
from braket.jobs.metrics import log_metric


def start_here():
    counts = LocalSimulator().run(Circuit().h(0).cnot(0, 1), shots=200).result().measurement_counts
    log_metric("loss", 0.5, iteration_number=0)
    print("bell counts", dict(counts), flush=True)
    save_job_result({"counts": dict(counts)})
"""


def test_bell_job_with_braket_jobs_helpers(path_kit: JobKit) -> None:
    job = path_kit.run_ok(BELL_JOB, entry_point="bell:start_here", timeout=120)
    counts = path_kit.results_json(job)["dataDictionary"]["counts"]
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 200, counts
    assert event_types(job)[-2:] == ["UPLOADING_RESULTS", "COMPLETED"]
    assert "bell counts" in path_kit.logs(job["jobArn"])


# What an instance's process looks like from the inside, taken before anything else runs.
PROBE = r"""
import gc, json, os, resource, signal, sys, threading
probe = {
    "threads": threading.active_count(),
    "tasks": len(os.listdir("/proc/self/task")),
}
fd_dir = f"/proc/{os.getpid()}/fd"
fds = {}
for name in os.listdir(fd_dir):
    try:
        fds[name] = os.readlink(f"{fd_dir}/{name}")
    except OSError:
        fds[name] = None  # the listing's own descriptor, closed by now
probe["fds"] = fds
probe["signals"] = {
    signal.Signals(s).name: repr(signal.getsignal(s))
    for s in sorted(signal.valid_signals())
    if s in signal.Signals.__members__.values()
}
probe["sid_is_pid"] = os.getsid(0) == os.getpid()
probe["pgid_is_pid"] = os.getpgid(0) == os.getpid()
probe["environ"] = dict(os.environ)
with open("/proc/self/environ", "rb") as initial:
    probe["initial_environ"] = initial.read().decode(errors="replace")
probe["cwd"] = os.getcwd()
probe["sys_path"] = list(sys.path)
probe["argv"] = list(sys.argv)
probe["executable"] = sys.executable
probe["flags"] = repr(sys.flags)
probe["dont_write_bytecode"] = sys.dont_write_bytecode
probe["stdout"] = [sys.stdout.encoding, sys.stdout.line_buffering, sys.stdout.write_through]
probe["stdin"] = os.readlink("/proc/self/fd/0")
probe["umask"] = os.umask(0o022); os.umask(probe["umask"])
probe["rlimits"] = {
    name: list(resource.getrlimit(getattr(resource, name)))
    for name in dir(resource) if name.startswith("RLIMIT_")
}
probe["gc_enabled"] = gc.isenabled()
probe["recursion_limit"] = sys.getrecursionlimit()
probe["main_thread"] = threading.current_thread() is threading.main_thread()
import numpy
probe["numpy_random"] = float(numpy.random.random())
results = os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"]
with open(os.path.join(results, "probe.json"), "w") as out:
    json.dump(probe, out)
"""


def run_probe(kit: JobKit) -> dict[str, Any]:
    job = kit.run_ok(PROBE, timeout=120)
    probe: dict[str, Any] = json.loads(kit.results(job)["probe.json"])
    probe["instance_dir"] = str(kit.instance_dir(job["jobArn"]).resolve())
    probe["log_file"] = str((kit.job_dir(job["jobArn"]) / "logs" / "algo-1.log").resolve())
    probe["server_url"] = kit.server.url
    return probe


def test_instance_inherits_nothing_from_the_server(path_kit: JobKit) -> None:
    probe = run_probe(path_kit)
    assert probe["threads"] == 1 and probe["tasks"] == 1, probe
    assert probe["main_thread"]
    fds = {int(fd): target for fd, target in probe["fds"].items()}
    assert {0, 1, 2} <= set(fds)
    assert fds[0] == "/dev/null"
    assert fds[1] == fds[2] == probe["log_file"]
    extra = {fd: target for fd, target in fds.items() if fd > 2}
    assert len(extra) <= 1 and all(t is None or "/fd" in t for t in extra.values()), extra
    assert probe["signals"]["SIGTERM"] == "<Handlers.SIG_DFL: 0>"
    assert probe["signals"]["SIGINT"].startswith("<built-in function default_int_handler")
    assert probe["signals"]["SIGCHLD"] == "<Handlers.SIG_DFL: 0>"
    assert probe["sid_is_pid"] and probe["pgid_is_pid"], "not a session and group leader"
    for name, value in probe["environ"].items():
        assert SENTINEL not in value, name
        assert not name.startswith("HYBRIDJOBS_"), name
    assert "HJ_TEST_SERVER_SECRET" not in probe["environ"]
    assert SENTINEL not in probe["initial_environ"]
    assert probe["stdin"] == "/dev/null"


def _normalised(probe: dict[str, Any]) -> dict[str, Any]:
    """The probe with what differs between any two jobs (paths, ids, the server's URL)
    replaced."""
    instance, log, url = probe["instance_dir"], probe["log_file"], probe["server_url"]
    job_dir = str(instance).rsplit("/instances/", 1)[0]

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(log, "<log>").replace(job_dir, "<job>").replace(url, "<url>")
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        return value

    per_job = {"AMZN_BRAKET_", "SM_", "SAGEMAKER_", "CURRENT_HOST", "AWS_", "MASTER_"}
    environ = {
        k: ("<per job>" if k.startswith(tuple(per_job)) else scrub(v))
        for k, v in probe["environ"].items()
    }
    fds = {
        fd: (scrub(t) if t is not None and not t.endswith("/fd") else "<listing>")
        for fd, t in probe["fds"].items()
    }
    keep = {
        "threads",
        "tasks",
        "signals",
        "sid_is_pid",
        "pgid_is_pid",
        "cwd",
        "sys_path",
        "argv",
        "executable",
        "flags",
        "dont_write_bytecode",
        "stdout",
        "stdin",
        "umask",
        "gc_enabled",
        "recursion_limit",
        "main_thread",
    }
    normalised = {k: scrub(v) for k, v in probe.items() if k in keep}
    normalised["environ"] = environ
    normalised["fds"] = fds
    normalised["rlimits"] = {k: v for k, v in probe["rlimits"].items() if k != "RLIMIT_CORE"}
    return normalised


def test_forked_instance_is_indistinguishable_from_a_cold_one(
    both_paths: dict[str, JobKit],
) -> None:
    warm = run_probe(both_paths["warm"])
    cold = run_probe(both_paths["cold"])
    left, right = _normalised(warm), _normalised(cold)
    differences = {
        k: (left.get(k), right.get(k))
        for k in left.keys() | right.keys()
        if left.get(k) != right.get(k)
    }
    assert not differences, json.dumps(differences, indent=1)
    assert warm["rlimits"]["RLIMIT_CORE"][0] == 0, "forked instances dump no core"
    # Each forked instance re-seeds NumPy: no two repeat the zygote's sequence.
    again = run_probe(both_paths["warm"])
    assert again["numpy_random"] != warm["numpy_random"]


# PennyLane's lightning.qubit (OpenMP) and the Braket simulator (numba) in one forked job:
# a zygote that had run either before forking could make this hang.
FORK_SAFETY_JOB = """
import pennylane as qml
from braket.circuits import Circuit
from braket.devices import LocalSimulator
from braket.jobs import save_job_result

dev = qml.device("lightning.qubit", wires=4)

@qml.qnode(dev)
def circuit(theta):
    for wire in range(4):
        qml.RY(theta, wires=wire)
    for wire in range(3):
        qml.CNOT(wires=[wire, wire + 1])
    return qml.expval(qml.PauliZ(0))

values = [float(circuit(0.1 * k)) for k in range(5)]
counts = LocalSimulator().run(Circuit().h(0).cnot(0, 1), shots=50).result().measurement_counts
values.append(float(circuit(0.7)))
save_job_result({"lightning": values, "counts": dict(counts)})
"""


@pytest.mark.timeout(180)
def test_lightning_and_local_simulator_in_a_forked_job(path_kit: JobKit) -> None:
    job = path_kit.run_ok(
        FORK_SAFETY_JOB, stoppingCondition={"maxRuntimeInSeconds": 90}, timeout=150
    )
    result = path_kit.results_json(job)["dataDictionary"]
    assert len(result["lightning"]) == 6 and abs(result["lightning"][0] - 1.0) < 1e-9
    assert sum(result["counts"].values()) == 50


# Leaves an atexit handler and a non-daemon thread behind: a Python interpreter runs and
# joins them on its way out, so must an instance (a forked one skips only module teardown).
EXIT_JOB = """
import atexit, os, pathlib, threading, time
results = pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
atexit.register(lambda: (results / "atexit.txt").write_text("ran"))
def late():
    time.sleep(0.5)
    (results / "thread.txt").write_text("joined")
threading.Thread(target=late).start()
"""


def test_interpreter_exit_semantics(path_kit: JobKit) -> None:
    job = path_kit.run_ok(EXIT_JOB, timeout=120)
    members = path_kit.results(job)
    assert members["atexit.txt"] == b"ran"
    assert members["thread.txt"] == b"joined"


SELF_TERMINATING = """
import os, signal
print("about to die", flush=True)
os.kill(os.getpid(), signal.SIGTERM)
"""


def test_killed_by_a_signal_reads_as_128_plus_the_signal(path_kit: JobKit) -> None:
    job = path_kit.run(SELF_TERMINATING, timeout=120)
    assert job["status"] == "FAILED"
    assert job["failureReason"].endswith("exit code: 143"), job["failureReason"]


SLEEPER_WITH_GRANDCHILD = """
import os, pathlib, subprocess, time
child = subprocess.Popen(["sleep", "300"])
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "grandchild.pid").write_text(str(child.pid))
print("sleeping", flush=True)
time.sleep(300)
"""


def _grandchild_started(kit: JobKit, arn: str) -> bool:
    pid_file = kit.instance_dir(arn) / "model" / "grandchild.pid"
    return pid_file.exists() and bool(pid_file.read_text())


def test_cancel_leaves_no_process(path_kit: JobKit) -> None:
    arn = path_kit.create(SLEEPER_WITH_GRANDCHILD)
    wait_until(lambda: _grandchild_started(path_kit, arn), 120, "the grandchild")
    path_kit.braket.cancel_job(jobArn=arn)
    job = path_kit.wait(arn, ["CANCELLED"], timeout=30)
    assert event_types(job)[-1] == "CANCELLED"
    path_kit.assert_no_processes(arn)


def test_max_runtime_leaves_no_process(path_kit: JobKit) -> None:
    arn = path_kit.create(SLEEPER_WITH_GRANDCHILD, stoppingCondition={"maxRuntimeInSeconds": 3})
    job = path_kit.wait(arn, ["FAILED"], timeout=120)
    assert "MAX_RUNTIME_EXCEEDED" in event_types(job)
    path_kit.assert_no_processes(arn)


def _wheel(name: str, version: str, files: dict[str, str]) -> tuple[str, bytes]:
    """A minimal pure-Python wheel (file name, content) that pip installs offline."""
    dist_info = f"{name}-{version}.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    ).encode()
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: hybridjobs-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, data in contents.items():
            wheel.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


REQUIREMENTS_JOB = """
import json, os, pathlib, sys
import hjreqpkg
with open("/proc/self/cmdline", "rb") as cmdline:
    argv = cmdline.read().split(b"\\0")
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "seen.json").write_text(json.dumps({
    "value": hjreqpkg.VALUE,
    "cmdline": [a.decode() for a in argv if a],
}))
"""


def test_requirements_run_in_a_fresh_interpreter(path_kit: JobKit, path: str) -> None:
    """A job that installs requirements never runs where preloaded modules could shadow
    them: on the warm path the forked process re-executes the cold bootstrap."""
    wheel_name, wheel = _wheel("hjreqpkg", "1.0", {"hjreqpkg/__init__.py": "VALUE = 'installed'\n"})
    before = pool_status(path_kit)
    job = path_kit.run_ok(
        files={
            "job.py": REQUIREMENTS_JOB,
            "requirements.txt": f"--no-index\n./{wheel_name}\n",
            wheel_name: wheel,
        },
        entry_point="job",
        timeout=180,
    )
    seen = json.loads(path_kit.results(job)["seen.json"])
    assert seen["value"] == "installed"
    assert seen["cmdline"][1:3] == ["-m", "hybridjobs.bootstrap"], seen["cmdline"]
    after = pool_status(path_kit)
    if path == "warm":
        assert after["launches"]["warm"] == before["launches"]["warm"] + 1


RAISES_WITH_CONTEXT = """
import sys
print("exc_info at start:", sys.exc_info(), flush=True)
def inner():
    raise KeyError("inner")
def main():
    try:
        inner()
    except KeyError as exc:
        raise ValueError("outer") from exc
main()
"""


def test_a_failing_job_sees_a_clean_traceback(path_kit: JobKit) -> None:
    """The zygote's way out of its loop (``EmbryoBorn``) is no part of the job's traceback."""
    job = path_kit.run(RAISES_WITH_CONTEXT, timeout=120)
    assert job["failureReason"] == "AlgorithmError: ValueError: outer, exit code: 1", job
    logs = path_kit.logs(job["jobArn"])
    assert "exc_info at start: (None, None, None)" in logs
    assert "KeyError: 'inner'" in logs and "ValueError: outer" in logs
    assert "direct cause" in logs  # the job's own chain is kept ...
    assert "EmbryoBorn" not in logs and "During handling" not in logs  # ... and only it
    assert logs.count("Traceback (most recent call last)") == 2, logs
