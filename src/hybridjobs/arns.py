"""Build and parse the ARNs hybridjobs mints (jobs and quantum tasks).

Job ARNs have the form ``arn:aws:braket:<region>:<account>:job/<uuid4>``; the region comes
from the request (the SDK rejects a job ARN whose region differs from its session's) and
the account from configuration.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

_JOB_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z\-]*):braket:(?P<region>[a-z0-9\-]+):(?P<account>[0-9]{12}):job/(?P<job_id>.+)"
)


@dataclass(frozen=True)
class JobArn:
    """The parts of a job ARN."""

    region: str
    account: str
    job_id: str
    partition: str = "aws"

    def __str__(self) -> str:
        return f"arn:{self.partition}:braket:{self.region}:{self.account}:job/{self.job_id}"


def new_job_arn(region: str, account: str) -> JobArn:
    """Mint a fresh job ARN ending in a lowercase UUID4."""
    return JobArn(region=region, account=account, job_id=str(uuid.uuid4()))


def parse_job_arn(arn: str) -> JobArn | None:
    """Parse ``arn`` as a job ARN; ``None`` when it is not one."""
    match = _JOB_ARN.fullmatch(arn)
    if match is None:
        return None
    return JobArn(
        region=match["region"],
        account=match["account"],
        job_id=match["job_id"],
        partition=match["partition"],
    )


_TASK_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z\-]*):braket:(?P<region>[a-z0-9\-]+):(?P<account>[0-9]{12}):quantum-task/(?P<task_id>[A-Za-z0-9\-]+)"
)


@dataclass(frozen=True)
class TaskArn:
    """The parts of a quantum-task ARN."""

    region: str
    account: str
    task_id: str
    partition: str = "aws"

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:braket:{self.region}:{self.account}:quantum-task/{self.task_id}"
        )


def new_task_arn(region: str, account: str) -> TaskArn:
    """Mint a fresh quantum-task ARN ending in a lowercase UUID4."""
    return TaskArn(region=region, account=account, task_id=str(uuid.uuid4()))


def parse_task_arn(arn: str) -> TaskArn | None:
    """Parse ``arn`` as a quantum-task ARN; ``None`` when it is not one."""
    match = _TASK_ARN.fullmatch(arn)
    if match is None:
        return None
    return TaskArn(
        region=match["region"],
        account=match["account"],
        task_id=match["task_id"],
        partition=match["partition"],
    )
