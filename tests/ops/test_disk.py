"""Disk: the retention sweeper and ``hybridjobs gc`` remove finished jobs' files and log
lines and abandoned multipart uploads (never a running job's); jobs wait while the data
directory is short of space; ``hybridjobs doctor`` says what is wrong."""

from __future__ import annotations

import functools

from jobs.conftest import JobKit, ServerPool, wait_until
from support.cli import explain, hybridjobs

from ops.test_metrics_and_log import sample, scrape

PRINTER = """
print("\\n".join(f"line {i}" for i in range(50)))
"""
SLEEPER = """
import time
print("sleeping", flush=True)
time.sleep(300)
"""
TINY_AGE = "0.00001"  # days: under a second
QUICK_SWEEP = {
    "HYBRIDJOBS_RETENTION_JOB_FILES_DAYS": TINY_AGE,
    "HYBRIDJOBS_RETENTION_LOGS_DAYS": TINY_AGE,
    "HYBRIDJOBS_RETENTION_UPLOADS_DAYS": TINY_AGE,
    "HYBRIDJOBS_RETENTION_SWEEP_SECONDS": "0.3",
}


def _abandoned_upload(kit: JobKit) -> str:
    s3 = kit.server.client("s3")
    s3.create_bucket(
        Bucket="uploads", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    upload = s3.create_multipart_upload(Bucket="uploads", Key="big.bin")["UploadId"]
    s3.upload_part(Bucket="uploads", Key="big.bin", UploadId=upload, PartNumber=1, Body=b"x" * 1024)
    return str(upload)


def _upload_alive(kit: JobKit, upload: str) -> bool:
    s3 = kit.server.client("s3")
    try:
        s3.list_parts(Bucket="uploads", Key="big.bin", UploadId=upload)
    except s3.exceptions.NoSuchUpload:
        return False
    return True


def _gone(kit: JobKit, arn: str, upload: str) -> bool:
    return (
        not kit.job_dir(arn).exists()
        and not kit.shipped_lines(arn)
        and not _upload_alive(kit, upload)
    )


def test_the_sweeper_removes_what_is_past_its_age_but_not_running_jobs(
    servers: ServerPool,
) -> None:
    kit = servers.start(env=QUICK_SWEEP)
    running = kit.create(SLEEPER)
    done = kit.create(PRINTER)
    kit.wait(done, ["COMPLETED"])
    upload = _abandoned_upload(kit)
    assert _upload_alive(kit, upload)

    wait_until(functools.partial(_gone, kit, done, upload), 20, "the sweeper")
    job = kit.braket.get_job(jobArn=done)
    assert job["status"] == "COMPLETED", "the job itself is kept"
    assert kit.results_path(job).exists(), "so are its results"
    wait_until(lambda: "sleeping" in kit.shipped_lines(running), 20, "the sleeper")
    assert kit.job_dir(running).exists() and kit.processes(running)
    assert "retention: removed 1 job directories" in kit.server.log_text()
    removed = scrape(kit.server.url)
    assert sample(removed, "hybridjobs_retention_removed_total", kind="job_dirs") == 1
    assert sample(removed, "hybridjobs_retention_removed_total", kind="uploads") == 1
    assert sample(removed, "hybridjobs_retention_removed_bytes_total", kind="job_dirs") > 0


def test_gc_dry_run_then_gc(servers: ServerPool) -> None:
    kit = servers.start()
    arn = kit.create(PRINTER)
    kit.wait(arn, ["COMPLETED"])
    upload = _abandoned_upload(kit)
    assert kit.server.stop() == 0
    job_dir = kit.job_dir(arn)
    ages = ["--job-files-days", TINY_AGE, "--logs-days", TINY_AGE, "--uploads-days", TINY_AGE]
    common = ["--data-dir", str(kit.data_dir), *ages]

    dry = hybridjobs("gc", "--dry-run", *common, endpoint=None)
    assert dry.returncode == 0, explain(dry)
    assert f"would remove {job_dir}" in dry.stdout, dry.stdout
    assert f"uploads/.hybridjobs-uploads/{upload}" in dry.stdout, dry.stdout
    lines = len(kit.shipped_lines(arn))
    assert lines >= 50 and f" {lines} log lines of 1 jobs" in dry.stdout, dry.stdout
    assert job_dir.exists() and len(kit.shipped_lines(arn)) == lines

    done = hybridjobs("gc", *common, endpoint=None)
    assert done.returncode == 0, explain(done)
    assert "removed 1 job directories" in done.stdout, done.stdout
    assert not job_dir.exists() and not kit.shipped_lines(arn)
    again = hybridjobs("gc", *common, endpoint=None)
    assert "removed 0 job directories" in again.stdout and "0 log lines" in again.stdout


def test_jobs_wait_while_the_data_directory_is_short_of_space(servers: ServerPool) -> None:
    kit = servers.start(env={"HYBRIDJOBS_MIN_FREE_DISK_GIB": "1000000"})
    arn = kit.create(PRINTER)
    wait_until(
        lambda: "queued jobs wait: the data directory" in kit.server.log_text(), 10, "warning"
    )
    assert kit.braket.get_job(jobArn=arn)["status"] == "QUEUED"
    assert kit.server.stop() == 0

    roomy = servers.start(data_dir=kit.data_dir)
    roomy.wait(arn, ["COMPLETED"])


def test_doctor_says_what_to_fix(servers: ServerPool) -> None:
    kit = servers.start()
    quick = {"HYBRIDJOBS_WARM_POOL": "false"}
    fine = hybridjobs("doctor", "--data-dir", str(kit.data_dir), endpoint=None, env=quick)
    assert fine.returncode == 0, explain(fine)
    assert "[ok  ] database: sqlite answers; schema version" in fine.stdout, fine.stdout
    assert "0 problem(s)" in fine.stdout

    broken = hybridjobs(
        "doctor",
        "--data-dir",
        str(kit.data_dir),
        "--db-url",
        "postgresql+psycopg://postgres@127.0.0.1:1/none",
        endpoint=None,
        env={**quick, "HYBRIDJOBS_MIN_FREE_DISK_GIB": "1000000"},
    )
    assert broken.returncode == 1, explain(broken)
    assert "[FAIL] database: cannot connect" in broken.stdout, broken.stdout
    assert "[FAIL] free disk:" in broken.stdout and "hybridjobs gc" in broken.stdout
    assert "2 problem(s)" in broken.stdout
