"""Where a job's output lives in the CloudWatch Logs surface: one log group, one stream per
started instance (spec §3.6: the SDK finds streams by the prefix ``<jobName>/<jobId>``)."""

from __future__ import annotations

from hybridjobs.jobs.model import Job

LOG_GROUP = "/aws/braket/jobs"


def stream_name(job: Job, instance: str) -> str:
    """``<jobName>/<jobId>/<instance>-<epoch seconds of startedAt>`` (job must have started)."""
    assert job.started_at is not None
    return f"{job.job_name}/{job.job_id}/{instance}-{int(job.started_at.timestamp())}"
