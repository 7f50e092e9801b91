"""Jobs that fail: failure reasons, no results, unsafe archives, a failing instance."""

from __future__ import annotations

from pathlib import Path

from jobs.conftest import BUCKET, JobKit, event_types, wait_until


def _assert_failed_without_results(jobs: JobKit, job: dict[str, object]) -> None:
    assert job["status"] == "FAILED"
    assert event_types(job)[-1] == "FAILED"
    assert "UPLOADING_RESULTS" not in event_types(job)
    assert not jobs.results_path(job).exists()  # a failed job uploads no model.tar.gz
    jobs.assert_no_processes(str(job["jobArn"]))


def test_uncaught_exception(jobs: JobKit) -> None:
    job = jobs.run("def main():\n    raise ValueError('boom')\n", entry_point="script:main")
    assert job["failureReason"] == "AlgorithmError: ValueError: boom, exit code: 1"
    _assert_failed_without_results(jobs, job)


def test_failure_file_with_exit_code_zero_fails(jobs: JobKit) -> None:
    script = (
        "import os, pathlib\n"
        "pathlib.Path(os.environ['SM_OUTPUT_DIR'], 'failure').write_text('bad input data')\n"
        "pathlib.Path(os.environ['AMZN_BRAKET_JOB_RESULTS_DIR'], 'results.json').write_text('{}')\n"
    )
    job = jobs.run(script)
    assert job["failureReason"] == "AlgorithmError: bad input data, exit code: 0"
    _assert_failed_without_results(jobs, job)


def test_import_error_is_readable(jobs: JobKit) -> None:
    job = jobs.run(
        "import hybridjobs_no_such_module\n\ndef main():\n    pass\n", entry_point="script:main"
    )
    assert job["failureReason"] == (
        "AlgorithmError: ModuleNotFoundError: No module named 'hybridjobs_no_such_module', "
        "exit code: 1"
    )
    _assert_failed_without_results(jobs, job)


def test_missing_entry_module_is_readable(jobs: JobKit) -> None:
    job = jobs.run(files={"real.py": "print('hi')\n"}, entry_point="missing:main")
    assert job["failureReason"] == (
        "AlgorithmError: ModuleNotFoundError: No module named 'missing', exit code: 1"
    )
    _assert_failed_without_results(jobs, job)


def test_sys_exit_nonzero_without_message(jobs: JobKit) -> None:
    job = jobs.run("import sys\nsys.exit(3)\n")
    reason = str(job["failureReason"])
    assert reason.startswith('AlgorithmError: ExecuteUserScriptError:\nExitCode 3\nErrorMessage ""')
    assert reason.endswith("exit code: 3"), reason
    _assert_failed_without_results(jobs, job)


def test_sys_exit_with_a_message(jobs: JobKit) -> None:
    job = jobs.run("import sys\nsys.exit('no convergence')\n")
    reason = str(job["failureReason"])
    assert 'ErrorMessage "no convergence"' in reason, reason
    assert reason.endswith("exit code: 1"), reason
    _assert_failed_without_results(jobs, job)


# algo-1 says it runs with an object in the job's bucket (through the service's S3 surface,
# which instances on any machine reach), then sleeps; algo-2 fails once it sees the object.
FAIL_ON_ALGO_2 = """
import os, time
import boto3
from botocore.exceptions import ClientError

host = os.environ["SM_CURRENT_HOST"]
s3 = boto3.client("s3")
bucket = os.environ["AMZN_BRAKET_OUT_S3_BUCKET"]
marker = f"jobs/{os.environ['AMZN_BRAKET_JOB_NAME']}/algo-1-started"
if host == "algo-1":
    s3.put_object(Bucket=bucket, Key=marker, Body=host.encode())
    time.sleep(300)
while True:  # fail only once algo-1 is surely running
    try:
        s3.head_object(Bucket=bucket, Key=marker)
        break
    except ClientError:
        time.sleep(0.02)
raise RuntimeError("algo-2 gave up")
"""


def test_failing_instance_stops_the_others(jobs: JobKit) -> None:
    job = jobs.run(FAIL_ON_ALGO_2, instanceConfig={"instanceCount": 2})
    assert job["failureReason"] == "AlgorithmError: RuntimeError: algo-2 gave up, exit code: 1"
    assert "algo-2" in job["events"][-1]["message"], job["events"][-1]
    _assert_failed_without_results(jobs, job)
    assert jobs.objects.get_bytes(BUCKET, f"jobs/{job['jobName']}/algo-1-started") == b"algo-1"


def test_archive_with_parent_paths_is_refused(jobs: JobKit, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    depth = "../" * 12
    files = {
        "ok.py": "print('should never run')\n",
        "../evil.py": "print('escaped')\n",
        f"{depth}evil_deep.py": "print('escaped')\n",
        f"{depth}{str(outside).lstrip('/')}/evil_abs.py": "print('escaped')\n",
    }
    job = jobs.run(files=files, entry_point="ok")
    reason = str(job["failureReason"])
    assert reason.startswith("AlgorithmError: Got an exception while trying to unpack archive"), (
        reason
    )
    assert "../evil.py" in reason or "evil" in reason, reason
    _assert_failed_without_results(jobs, job)

    instance = jobs.instance_dir(job["jobArn"])
    assert not outside.exists()
    assert not Path("/evil_deep.py").exists()
    written = {p.name for p in jobs.data_dir.rglob("*.py")}
    assert not written & {"evil.py", "evil_deep.py", "evil_abs.py"}, written
    if jobs.keeps_instance_dirs:
        assert not list((instance / "code/customer_code/extracted").iterdir())
    else:  # a cluster agent removes the instance's whole directory, whatever it held
        assert not instance.exists(), sorted(instance.rglob("*"))
    assert "should never run" not in jobs.logs(job["jobArn"])
    wait_until(lambda: not jobs.processes(job["jobArn"]), 5, "no processes")


def _channel(uri: str) -> list[dict[str, object]]:
    return [{"channelName": "train", "dataSource": {"s3DataSource": {"s3Uri": uri}}}]


def test_missing_input_data_fails_with_a_clear_reason(jobs: JobKit) -> None:
    for uri in ("s3://hj-no-such-bucket/data", f"s3://{BUCKET}/no/such/prefix"):
        job = jobs.run("print('never')", inputDataConfig=_channel(uri))
        reason = str(job["failureReason"])
        assert reason.startswith("ClientError: Data download failed"), reason
        assert uri in reason and "train" in reason, reason
        assert "RUNNING" not in event_types(job)
        _assert_failed_without_results(jobs, job)


def test_instance_killed_by_a_signal(jobs: JobKit) -> None:
    job = jobs.run("import os, signal\nprint('bye')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert job["failureReason"] == "AlgorithmError: algo-1 was killed by SIGKILL, exit code: 137"
    _assert_failed_without_results(jobs, job)
