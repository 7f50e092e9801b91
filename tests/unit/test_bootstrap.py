"""The bootstrap, run for real: ``python -m hybridjobs.bootstrap spec.json`` and a forked child."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hybridjobs.bootstrap import run_instance
from hybridjobs.objects import LocalObjectStore
from hybridjobs.runners.contract import (
    InstanceLaunch,
    InstancePaths,
    build_environment,
    prepare_instance_dirs,
    write_instance_spec,
)

CODE_BUCKET = "code"
JOB_NAME = "boot-job"


@dataclass(frozen=True)
class Instance:
    spec_file: Path
    paths: InstancePaths
    env: dict[str, str]


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def make_instance(
    tmp_path: Path,
    store: LocalObjectStore,
    key: str | None,
    entry_point: str | None,
    *,
    compression: str | None = None,
    hyperparameters: dict[str, str] | None = None,
    channels: tuple[str, ...] = (),
    job: str = "job-1",
) -> Instance:
    script: dict[str, str] = {}
    if key is not None:
        script["s3Uri"] = f"s3://{CODE_BUCKET}/{key}"
    if entry_point is not None:
        script["entryPoint"] = entry_point
    if compression is not None:
        script["compressionType"] = compression
    request: dict[str, Any] = {
        "jobName": JOB_NAME,
        "algorithmSpecification": {"scriptModeConfig": script},
        "hyperParameters": hyperparameters or {},
        "inputDataConfig": [
            {"channelName": name, "dataSource": {"s3DataSource": {"s3Uri": f"s3://d/{name}"}}}
            for name in channels
        ],
        "instanceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1},
        "outputDataConfig": {"s3Path": f"s3://out/jobs/{JOB_NAME}/1/data"},
        "checkpointConfig": {"localPath": "/opt/jobs/checkpoints"},
        "deviceConfig": {"device": "local:braket/braket.local.qubit"},
    }
    launch = InstanceLaunch(
        job_arn=f"arn:aws:braket:us-west-2:123456789012:job/{job}",
        job_name=JOB_NAME,
        job_id=job,
        request=request,
        host_index=1,
        hosts=["algo-1"],
        job_dir=tmp_path / "jobs" / job,
        region="us-west-2",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="AKIDJOB",
        secret_access_key="job-secret",
        job_token="tok",
        master_port=29500,
        python=sys.executable,
        instance_resources=(2, 8.0, 0),
        objects=store.config(),
        requirements_cache_dir=tmp_path / "reqcache",
    )
    paths = prepare_instance_dirs(launch)
    env = build_environment(launch, paths)
    return Instance(write_instance_spec(launch, paths, env), paths, env)


def bootstrap(instance: Instance) -> subprocess.CompletedProcess[str]:
    """The cold path, as the runner starts it."""
    return subprocess.run(
        [sys.executable, "-m", "hybridjobs.bootstrap", str(instance.spec_file)],
        env=instance.env,
        cwd=instance.paths.instance_dir,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def targz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def failure_text(instance: Instance) -> str | None:
    failure = instance.paths.failure_file
    return failure.read_text() if failure.exists() else None


ALGO = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    def main(n: int, x: float = 0.5, flag: bool = True, name="default"):
        out = Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"]) / "out.json"
        out.write_text(json.dumps({
            "n": n, "x": x, "flag": flag, "name": name,
            "types": [type(v).__name__ for v in (n, x, flag, name)],
            "cwd": os.getcwd(), "argv": sys.argv[1:],
            "secret": os.environ.get("HYBRIDJOBS_BOOT_SENTINEL"),
        }))
        print("algo ran")
    """
).encode()


def check_algo_results(instance: Instance) -> None:
    results = json.loads((instance.paths.model_dir / "out.json").read_text())
    assert results["n"] == 3 and results["x"] == 1.5 and results["flag"] is False
    assert results["name"] == "q"
    assert results["types"] == ["int", "float", "bool", "str"]
    assert results["cwd"] == str(instance.paths.extracted_dir)
    assert results["argv"] == ["--flag", "False", "-n", "3", "--name", "q", "-x", "1.5"]
    assert results["secret"] is None
    assert failure_text(instance) is None
    assert instance.paths.exit_file.read_text().strip() == "0"


ALGO_HPS = {"n": "3", "x": "1.5", "flag": "false", "name": "q"}


def test_single_file_function_entry_point(
    tmp_path: Path, store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRIDJOBS_BOOT_SENTINEL", "leak")  # must not reach the job
    store.put_bytes(CODE_BUCKET, "jobs/j/script/algo.py", ALGO)
    instance = make_instance(
        tmp_path, store, "jobs/j/script/algo.py", "algo:main", hyperparameters=ALGO_HPS
    )
    done = bootstrap(instance)
    assert done.returncode == 0, done.stdout + done.stderr
    check_algo_results(instance)
    assert (instance.paths.original_dir / "algo.py").read_bytes() == ALGO
    log = done.stdout
    for line in ("Beginning Setup", "Running Code As Process", "algo ran", "Code Run Finished"):
        assert line in log
    assert log.index("Beginning Setup") < log.index("algo ran") < log.index("Code Run Finished")
    assert '"user_entry_point": "braket_container.py"' in log  # what SDK integ tests grep for
    assert "Invoking script with the following command:" in log
    assert "Reporting training SUCCESS" in log


def test_run_instance_in_a_forked_child(tmp_path: Path, store: LocalObjectStore) -> None:
    store.put_bytes(CODE_BUCKET, "jobs/j/script/algo.py", ALGO)
    instance = make_instance(
        tmp_path, store, "jobs/j/script/algo.py", "algo:main", hyperparameters=ALGO_HPS
    )
    log = tmp_path / "forked.log"
    cwd, environ = os.getcwd(), dict(os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 70
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            code = run_instance(instance.spec_file)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, log.read_text()
    check_algo_results(instance)
    text = log.read_text()
    assert "Beginning Setup" in text and "algo ran" in text and "Code Run Finished" in text
    assert (os.getcwd(), dict(os.environ)) == (cwd, environ)  # the parent is untouched


def test_targz_package_with_module_entry_point(tmp_path: Path, store: LocalObjectStore) -> None:
    package = targz(
        {
            "qml/__init__.py": b"",
            "qml/helpers.py": b"def value():\n    return 42\n",
            "qml/train.py": textwrap.dedent(
                """
                import json, os, sys
                from pathlib import Path
                from qml.helpers import value
                if __name__ == "__main__":
                    out = Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"]) / "module.json"
                    out.write_text(json.dumps({"value": value(), "argv0": sys.argv[0],
                                               "argv": sys.argv[1:]}))
                """
            ).encode(),
        }
    )
    store.put_bytes(CODE_BUCKET, "jobs/j/script/source.tar.gz", package)
    instance = make_instance(
        tmp_path,
        store,
        "jobs/j/script/source.tar.gz",
        "qml.train",
        compression="gzip",
        hyperparameters={"steps": "2"},
    )
    done = bootstrap(instance)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((instance.paths.model_dir / "module.json").read_text())
    assert results["value"] == 42
    assert results["argv0"].endswith("qml/train.py")
    assert results["argv"] == ["--steps", "2"]
    assert (instance.paths.extracted_dir / "qml" / "helpers.py").exists()


def test_zip_detected_by_content_without_compression_type(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("entry.py", "def go():\n    print('zipped entry ran')\n")
    store.put_bytes(CODE_BUCKET, "code.zip", buffer.getvalue())
    instance = make_instance(tmp_path, store, "code.zip", "entry:go")
    done = bootstrap(instance)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "zipped entry ran" in done.stdout


def test_unbindable_hyperparameters_call_without_arguments(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    script = b"import os\ndef go():\n    open(os.environ['AMZN_BRAKET_JOB_RESULTS_DIR'] + '/called', 'w').close()\n"
    store.put_bytes(CODE_BUCKET, "s.py", script)
    instance = make_instance(tmp_path, store, "s.py", "s:go", hyperparameters={"unexpected": "1"})
    done = bootstrap(instance)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (instance.paths.model_dir / "called").exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise ValueError('boom')", "ValueError: boom"),
        ("raise RuntimeError()", "RuntimeError"),
        (
            "open('fake_file')",
            "FileNotFoundError: [Errno 2] No such file or directory: 'fake_file'",
        ),
    ],
)
def test_exception_writes_the_failure_file(
    tmp_path: Path, store: LocalObjectStore, body: str, expected: str
) -> None:
    store.put_bytes(CODE_BUCKET, "bad.py", f"def main():\n    {body}\n".encode())
    instance = make_instance(tmp_path, store, "bad.py", "bad:main")
    done = bootstrap(instance)
    assert done.returncode == 1
    assert failure_text(instance) == expected
    assert "Traceback (most recent call last)" in done.stderr
    assert "Reporting training FAILURE" in done.stdout
    assert instance.paths.exit_file.read_text().strip() == "1"


def test_import_error_of_the_entry_module_is_recorded(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    store.put_bytes(CODE_BUCKET, "algo.py", b"import not_a_module_anywhere\n")
    instance = make_instance(tmp_path, store, "algo.py", "algo:main")
    done = bootstrap(instance)
    assert done.returncode == 1
    assert failure_text(instance) == "ModuleNotFoundError: No module named 'not_a_module_anywhere'"


@pytest.mark.parametrize(
    ("body", "code"),
    [("sys.exit(3)", 3), ("sys.exit(0)", 0), ("sys.exit()", 0), ("sys.exit('bye')", 1)],
)
def test_system_exit_gives_its_code(
    tmp_path: Path, store: LocalObjectStore, body: str, code: int
) -> None:
    store.put_bytes(CODE_BUCKET, "quit.py", f"import sys\n{body}\n".encode())
    instance = make_instance(tmp_path, store, "quit.py", "quit")
    done = bootstrap(instance)
    assert done.returncode == code, done.stdout + done.stderr
    assert "Code Run Finished" in done.stdout
    failure = failure_text(instance)
    if code == 0:
        assert failure is None
    else:
        assert failure is not None and failure.startswith(
            f"ExecuteUserScriptError:\nExitCode {code}\n"
        )


def test_unsafe_archive_fails_the_instance(tmp_path: Path, store: LocalObjectStore) -> None:
    package = targz({"algo.py": b"def main():\n    pass\n", "../evil.py": b"print('pwned')\n"})
    store.put_bytes(CODE_BUCKET, "source.tar.gz", package)
    instance = make_instance(tmp_path, store, "source.tar.gz", "algo:main", compression="GZIP")
    done = bootstrap(instance)
    assert done.returncode == 1
    failure = failure_text(instance)
    assert failure is not None
    assert failure.startswith("Got an exception while trying to unpack archive: ")
    assert "../evil.py" in failure
    assert list(tmp_path.rglob("evil.py")) == []
    assert list(instance.paths.extracted_dir.iterdir()) == []
    assert "Running Code As Process" not in done.stdout


def test_missing_script_object(tmp_path: Path, store: LocalObjectStore) -> None:
    store.create_bucket(CODE_BUCKET)
    instance = make_instance(tmp_path, store, "jobs/none/algo.py", "algo:main")
    done = bootstrap(instance)
    assert done.returncode == 1
    failure = failure_text(instance)
    assert failure is not None and failure.startswith("Unable to download code.\nException: ")


@pytest.mark.parametrize(
    ("key", "entry_point", "message"),
    [
        (None, "algo:main", "No customer script specified"),
        ("algo.py", None, "No customer entry point specified"),
    ],
)
def test_missing_script_configuration(
    tmp_path: Path, store: LocalObjectStore, key: str | None, entry_point: str | None, message: str
) -> None:
    instance = make_instance(tmp_path, store, key, entry_point)
    done = bootstrap(instance)
    assert done.returncode == 1
    assert failure_text(instance) == message


BRAKET_SCRIPT = textwrap.dedent(
    """
    from pathlib import Path
    from braket.jobs import (
        get_hyperparameters, get_input_data_dir, get_job_device_arn, save_job_checkpoint,
        save_job_result,
    )

    def start_here():
        hps = get_hyperparameters()
        data = (Path(get_input_data_dir()) / "values.txt").read_text()
        save_job_checkpoint({"step": int(hps["steps"])}, checkpoint_file_suffix="ck")
        save_job_result({"device": get_job_device_arn(), "hps": hps, "data": data})
    """
).encode()


def test_braket_jobs_helpers_work(tmp_path: Path, store: LocalObjectStore) -> None:
    store.put_bytes(CODE_BUCKET, "braket_algo.py", BRAKET_SCRIPT)
    instance = make_instance(
        tmp_path,
        store,
        "braket_algo.py",
        "braket_algo:start_here",
        hyperparameters={"steps": "7"},
        channels=("input",),
    )
    (instance.paths.channel_dirs["input"] / "values.txt").write_text("1,2,3")  # the scheduler's job
    done = bootstrap(instance)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((instance.paths.results_dir / "results.json").read_text())
    assert results["dataFormat"] == "plaintext"
    assert results["dataDictionary"] == {
        "device": "local:braket/braket.local.qubit",
        "hps": {"steps": "7"},
        "data": "1,2,3",
    }
    checkpoint = json.loads((instance.paths.checkpoint_dir / f"{JOB_NAME}_ck.json").read_text())
    assert checkpoint["dataDictionary"] == {"step": 7}
    assert instance.paths.checkpoint_dir.is_relative_to(instance.paths.instance_dir)


# -- requirements ------------------------------------------------------------------------


def tiny_wheel() -> bytes:
    """A pure-Python wheel built by hand, so pip installs it offline with no build step."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n",
        "tinypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
        "tinypkg-0.1.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-0.1.dist-info/RECORD,,")
    files["tinypkg-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


USES_TINYPKG = textwrap.dedent(
    """
    import os, tinypkg
    def main():
        with open(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"] + "/value.txt", "w") as out:
            out.write(f"{tinypkg.VALUE} {tinypkg.__file__} {os.environ['PYTHONPATH']}")
    """
).encode()


def test_requirements_are_installed_once_and_cached(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    requirements = b"# offline: a wheel shipped with the code\n--no-index\n./wheels/tinypkg-0.1-py3-none-any.whl\n"
    package = targz(
        {
            "uses.py": USES_TINYPKG,
            "requirements.txt": requirements,
            "wheels/tinypkg-0.1-py3-none-any.whl": tiny_wheel(),
        }
    )
    store.put_bytes(CODE_BUCKET, "source.tar.gz", package)
    cache_dir = tmp_path / "reqcache" / hashlib.sha256(requirements).hexdigest()

    first = make_instance(
        tmp_path, store, "source.tar.gz", "uses:main", compression="GZIP", job="first"
    )
    done = bootstrap(first)
    assert done.returncode == 0, done.stdout + done.stderr
    value, module_file, pythonpath = (first.paths.model_dir / "value.txt").read_text().split(" ")
    assert value == "42"
    assert Path(module_file).is_relative_to(cache_dir)
    assert pythonpath.split(os.pathsep)[0] == str(cache_dir)
    assert (cache_dir / ".hybridjobs-complete").exists()
    assert "Successfully installed tinypkg" in done.stdout

    second = make_instance(
        tmp_path, store, "source.tar.gz", "uses:main", compression="GZIP", job="second"
    )
    done = bootstrap(second)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Using cached requirements" in done.stdout
    assert "Successfully installed" not in done.stdout
    assert (second.paths.model_dir / "value.txt").read_text().startswith("42 ")
    leftovers = sorted(p.name for p in cache_dir.parent.iterdir())
    assert leftovers == [cache_dir.name, f"{cache_dir.name}.lock"]  # no staging dirs


def test_failed_requirements_fail_the_instance(tmp_path: Path, store: LocalObjectStore) -> None:
    requirements = b"--no-index\nthis-package-does-not-exist-anywhere==1.0\n"
    package = targz({"algo.py": b"def main():\n    pass\n", "requirements.txt": requirements})
    store.put_bytes(CODE_BUCKET, "source.tar.gz", package)
    instance = make_instance(tmp_path, store, "source.tar.gz", "algo:main", compression="GZIP")
    done = bootstrap(instance)
    assert done.returncode == 1
    failure = failure_text(instance)
    assert failure is not None and failure.startswith(
        "Unable to install requirements.\nException: "
    )
    cache = tmp_path / "reqcache"
    assert sorted(p.name for p in cache.iterdir()) == [
        f"{hashlib.sha256(requirements).hexdigest()}.lock"
    ]


def test_comment_only_requirements_install_nothing(tmp_path: Path, store: LocalObjectStore) -> None:
    package = targz(
        {"algo.py": b"def main():\n    print('ok')\n", "requirements.txt": b"# nothing\n\n"}
    )
    store.put_bytes(CODE_BUCKET, "source.tar.gz", package)
    instance = make_instance(tmp_path, store, "source.tar.gz", "algo:main", compression="GZIP")
    done = bootstrap(instance)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "reqcache").exists()


# -- MPI ranks ---------------------------------------------------------------------------

RANK_SCRIPT = textwrap.dedent(
    """
    import os
    def main():
        rank = os.environ["OMPI_COMM_WORLD_RANK"]
        with open(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"] + f"/rank-{rank}.txt", "w") as out:
            out.write(os.environ["OMPI_COMM_WORLD_SIZE"])
    """
).encode()


def test_mpi_ranks_share_one_instance_directory(tmp_path: Path, store: LocalObjectStore) -> None:
    """Ranks started together set the code up once (under a lock) and keep their MPI env."""
    package = targz({"ranks.py": RANK_SCRIPT, "pkg/filler.py": b"X = 1\n" * 5000})
    store.put_bytes(CODE_BUCKET, "source.tar.gz", package)
    instance = make_instance(tmp_path, store, "source.tar.gz", "ranks:main", compression="GZIP")
    ranks = [
        subprocess.Popen(
            [sys.executable, "-m", "hybridjobs.bootstrap", str(instance.spec_file)],
            env={**instance.env, "OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_SIZE": "3"},
            cwd=instance.paths.instance_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(3)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in ranks]
    assert [proc.returncode for proc in ranks] == [0, 0, 0], outputs
    for rank in range(3):
        assert (instance.paths.model_dir / f"rank-{rank}.txt").read_text() == "3"
    assert all("MPI is active" in out for out in outputs)
    assert not instance.paths.exit_file.exists()  # mpirun's exit code is the one that counts
    assert failure_text(instance) is None
