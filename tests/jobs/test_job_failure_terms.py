"""A failure reason speaks in the job's terms (the S3 URI, the container's paths), never
in the paths of the service's host (issue 12)."""

from __future__ import annotations

from jobs.conftest import JobKit, describe

MISSING_FILE = """
import os
open(os.path.join(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "missing.csv"))
"""


def test_a_path_in_an_error_is_the_containers(jobs: JobKit) -> None:
    job = jobs.run(MISSING_FILE)

    assert job["status"] == "FAILED", describe(job)
    reason = str(job["failureReason"])
    assert "'/opt/ml/model/missing.csv'" in reason, reason
    assert str(jobs.data_dir) not in reason, reason


def test_an_archive_that_cannot_be_unpacked_is_named_by_its_s3_uri(jobs: JobKit) -> None:
    uri = jobs.put("src/broken/source.tar.gz", b"this is no gzip data")
    job = jobs.run(
        algorithmSpecification={
            "scriptModeConfig": {"s3Uri": uri, "entryPoint": "ok", "compressionType": "GZIP"}
        }
    )

    assert job["status"] == "FAILED", describe(job)
    reason = str(job["failureReason"])
    assert f"unpack archive: {uri} of type: GZIP" in reason, reason
    assert str(jobs.data_dir) not in reason, reason
