"""The edges of a job's end: a cancel while the results upload, and billing for instances
that exited while the service was down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jobs.conftest import BUCKET, JobKit, ServerPool, describe, event_types, wait_until

# Writes ~200 MB of incompressible results, so packing model.tar.gz takes a few seconds.
BIG_RESULTS = """
import json, os, pathlib
results = pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
with open(results / "blob.bin", "wb") as out:
    for _ in range(200):
        out.write(os.urandom(1 << 20))
(results / "results.json").write_text(json.dumps({"big": True}))
"""


def _output_objects(kit: JobKit, job: dict[str, Any]) -> list[str]:
    """The keys under the job's ``outputDataConfig.s3Path``, through the S3 API."""
    s3 = kit.server.client("s3")
    prefix = str(job["outputDataConfig"]["s3Path"]).removeprefix(f"s3://{BUCKET}/")
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [str(o["Key"]) for o in listing.get("Contents", [])]


def test_cancel_while_results_upload_leaves_no_results(jobs: JobKit) -> None:
    arn = jobs.create(BIG_RESULTS)
    wait_until(
        lambda: "UPLOADING_RESULTS" in event_types(jobs.braket.get_job(jobArn=arn)),
        60,
        "UPLOADING_RESULTS",
    )
    answer = jobs.braket.cancel_job(jobArn=arn)
    assert answer["cancellationStatus"] == "CANCELLING"
    job = jobs.wait(arn, ["CANCELLED"], timeout=30)

    types = event_types(job)
    assert types[-2:] == ["UPLOADING_RESULTS", "CANCELLED"], describe(job)
    assert "failureReason" not in job
    assert _output_objects(jobs, job) == []
    assert not jobs.results_path(job).exists()
    s3 = jobs.server.client("s3")
    key = str(jobs.results_path(job).relative_to(jobs.data_dir / "objects" / BUCKET))
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except s3.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey"), exc.response
    else:
        raise AssertionError(f"s3://{BUCKET}/{key} exists for a cancelled job")
    # The scratch archive is gone too (now, or once the abandoned packing ends).
    wait_until(
        lambda: not list(jobs.job_dir(arn).glob(".results-*")), 20, "the scratch archive to go"
    )
    jobs.assert_no_processes(arn)


# Waits for the test's release file, then exits at once.
WAIT_FOR_RELEASE = """
import json, os, pathlib, time

def main(release: str):
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
    pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
        json.dumps({"host": os.environ["SM_CURRENT_HOST"]}))
"""

DOWNTIME_SECONDS = 6.0


def test_instances_that_end_while_the_service_is_down_are_billed_to_their_exit(
    servers: ServerPool, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    first = servers.start()
    arn = first.create(
        WAIT_FOR_RELEASE,
        entry_point="waiter:main",
        instanceConfig={"instanceCount": 2},
        hyperParameters={"release": str(release)},
    )
    first.wait(arn, ["RUNNING"])
    wait_until(lambda: "RUNNING" in event_types(first.braket.get_job(jobArn=arn)), 20, "RUNNING")
    wait_until(lambda: len(first.processes(arn)) >= 2, 10, "both instances")
    first.crash()

    release.touch()
    exit_files = [first.instance_dir(arn, h) / "exit_code" for h in ("algo-1", "algo-2")]
    wait_until(lambda: all(f.exists() for f in exit_files), 20, "the instances' exit files")
    wait_until(lambda: not first.processes(arn), 10, "the instances to end")
    last_exit = max(f.stat().st_mtime for f in exit_files)
    time.sleep(DOWNTIME_SECONDS)

    restarted = time.time()
    second = servers.start(data_dir=first.data_dir)
    job = second.wait(arn, ["COMPLETED"], timeout=30)
    assert second.results_json(job)["host"] == "algo-1"

    started, ended = job["startedAt"].timestamp(), job["endedAt"].timestamp()
    assert ended >= last_exit - 0.01, (ended, last_exit)
    assert ended < restarted, "endedAt counts the time the service was down"
    assert ended - last_exit < 2.0, ended - last_exit  # only the upload after the exit
    billed_each = job["billableDuration"] / 2 / 1000
    assert abs(billed_each - (ended - started)) < 0.01, (billed_each, ended - started)
    assert billed_each < last_exit - started + 2.0, (billed_each, last_exit - started)
    second.assert_no_processes(arn)
