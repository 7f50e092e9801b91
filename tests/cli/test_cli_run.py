"""``hybridjobs run`` through a subprocess against a live service: waiting, exit codes,
packing, hyperparameters, inputs, tags, and Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from support.cli import EXAMPLES, cli_env, explain, hybridjobs, job_of, ok, saved_results
from support.server import LiveServer


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return path


def test_run_waits_streams_logs_and_ends_with_the_results(server: LiveServer) -> None:
    name = _name("bell")
    result = ok("run", str(EXAMPLES / "bell" / "bell.py"), "--name", name, endpoint=server.url)
    out = result.stdout
    for expected in (
        f"job {name}",
        "QUEUED_FOR_EXECUTION",
        "RUNNING",
        "algo-1 | running a Bell circuit",
        "COMPLETED in",
        "measurement_counts",
    ):
        assert expected in out, explain(result)
    assert "Training Env" not in out  # the platform's set-up lines are hidden by default
    assert out.index("algo-1 | running a Bell circuit") < out.index("COMPLETED in")


def test_a_failing_job_exits_1_with_its_failure_reason(server: LiveServer, tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "broken.py",
        """
        print("about to fail")
        raise ValueError("the angle is out of range")
        """,
    )
    result = hybridjobs("run", str(script), "--name", _name("broken"), endpoint=server.url)
    assert result.returncode == 1, explain(result)
    assert "algo-1 | about to fail" in result.stdout
    assert "FAILED after" in result.stdout
    assert "AlgorithmError: ValueError: the angle is out of range" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_directory_is_packed_honouring_gitignore(server: LiveServer, tmp_path: Path) -> None:
    project = tmp_path / "project"
    _script(
        project,
        "main.py",
        """
        import os
        from braket.jobs import save_job_result

        files = sorted(
            os.path.relpath(os.path.join(root, f))
            for root, _, names in os.walk(".")
            for f in names
        )
        save_job_result({"files": files})
        """,
    )
    _script(project, "helpers/util.py", "VALUE = 1\n")
    _script(project, "data/big.bin", "x" * 100)
    _script(project, "data/keep.bin", "k")
    _script(project, "notes.log", "log")
    _script(project, "sub/.gitignore", "secret.txt\n")
    _script(project, "sub/secret.txt", "s")
    _script(project, "sub/public.txt", "p")
    (project / ".gitignore").write_text("# build output\n*.log\ndata/*\n!data/keep.bin\n")
    name = _name("packed")
    ok("run", str(project), "--name", name, endpoint=server.url)
    files = saved_results(name, server.url, tmp_path / name)["files"]
    assert "main.py" in files and "helpers/util.py" in files and "sub/public.txt" in files
    assert "data/keep.bin" in files
    assert "data/big.bin" not in files
    assert "notes.log" not in files
    assert "sub/secret.txt" not in files


def test_hyperparameters_inputs_and_tags_reach_the_job(server: LiveServer, tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "echo_job.py",
        """
        from pathlib import Path
        from braket.jobs import get_input_data_dir, save_job_result

        def main(scale: float, label: str = "none"):
            numbers = Path(get_input_data_dir("numbers"), "numbers.txt").read_text().split()
            save_job_result({"total": scale * sum(map(int, numbers)), "label": label})
        """,
    )
    (tmp_path / "numbers.txt").write_text("1 2 3 4\n")
    name = _name("echo")
    ok(
        "run",
        str(script),
        "--entry-point",
        ":main",
        "--hp",
        "scale=0.5",
        "--hp",
        "label=a=b",
        "--input",
        f"numbers={tmp_path / 'numbers.txt'}",
        "--tag",
        "team=quantum",
        "--max-runtime",
        "600",
        "--name",
        name,
        endpoint=server.url,
    )
    assert saved_results(name, server.url, tmp_path / name) == {"total": 5.0, "label": "a=b"}
    job = job_of(name, server.url)
    assert job["tags"] == {"team": "quantum"}
    assert job["hyperParameters"] == {"scale": "0.5", "label": "a=b"}
    assert job["stoppingCondition"] == {"maxRuntimeInSeconds": 600}
    assert job["algorithmSpecification"]["scriptModeConfig"]["entryPoint"] == "echo_job:main"
    source = job["algorithmSpecification"]["scriptModeConfig"]["s3Uri"]
    assert source.startswith(f"s3://amazon-braket-us-east-1-000000000000/jobs/{name}/")
    assert source.endswith("/script/source.tar.gz")
    channel = job["inputDataConfig"][0]["dataSource"]["s3DataSource"]["s3Uri"]
    assert channel == source.replace("/script/source.tar.gz", "/data/numbers/numbers.txt")


def test_no_wait_returns_at_once_and_logs_follow_shows_the_rest(
    server: LiveServer, tmp_path: Path
) -> None:
    script = _script(tmp_path, "counter.py", "for i in range(3):\n    print(f'count {i}')\n")
    name = _name("counter")
    created = ok("run", str(script), "--no-wait", "--name", name, endpoint=server.url)
    assert f"hybridjobs logs -f {name}" in created.stdout
    followed = ok("logs", "-f", name, endpoint=server.url)
    assert "algo-1 | count 2" in followed.stdout
    assert job_of(name, server.url)["status"] == "COMPLETED"


def test_usage_errors_exit_2(server: LiveServer, tmp_path: Path) -> None:
    missing = hybridjobs("run", str(tmp_path / "nope.py"), endpoint=server.url)
    assert missing.returncode == 2, explain(missing)
    assert missing.stderr.strip().startswith("error:") and "does not exist" in missing.stderr
    bad_hp = hybridjobs("run", str(EXAMPLES / "bell" / "bell.py"), "--hp", "x", endpoint=None)
    assert bad_hp.returncode == 2
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    ambiguous = hybridjobs("run", str(tmp_path), endpoint=server.url)
    assert ambiguous.returncode == 2 and "--entry-point" in ambiguous.stderr


def test_ctrl_c_without_a_terminal_detaches_and_exits_130(
    server: LiveServer, tmp_path: Path
) -> None:
    script = _script(
        tmp_path,
        "sleeper.py",
        """
        import time
        print("sleeping", flush=True)
        time.sleep(120)
        """,
    )
    name = _name("sleeper")
    process = subprocess.Popen(
        [sys.executable, "-m", "hybridjobs.cli", "run", str(script), "--name", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(server.url),
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # wait for the job's own output: it is running
        seen.append(line)
        if "algo-1 | sleeping" in line:
            break
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=30)
    assert process.returncode == 130, "".join(seen) + rest + errors
    assert "detached" in rest and f"hybridjobs logs -f {name}" in rest
    assert job_of(name, server.url)["status"] == "RUNNING"
    cancelled = ok("cancel", name, "--wait", endpoint=server.url)
    assert "CANCELLED" in cancelled.stdout
    assert (
        json.loads(ok("jobs", "--name", name, "--json", endpoint=server.url).stdout)[0]["status"]
        == "CANCELLED"
    )
