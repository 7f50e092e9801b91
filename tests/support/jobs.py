"""Builders of valid Braket requests for tests."""

from __future__ import annotations

import copy
import uuid
from typing import Any

ROLE_ARN = "arn:aws:iam::123456789012:role/hybridjobs-test"
LOCAL_DEVICE = "local:braket/default"
SV1_DEVICE = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"

_BASE_CREATE_JOB: dict[str, Any] = {
    "jobName": "test-job",
    "roleArn": ROLE_ARN,
    "algorithmSpecification": {
        "scriptModeConfig": {
            "entryPoint": "algorithm_script:start_here",
            "s3Uri": "s3://hj-test-bucket/jobs/source.tar.gz",
            "compressionType": "GZIP",
        }
    },
    "outputDataConfig": {"s3Path": "s3://hj-test-bucket/jobs/output"},
    "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
    "deviceConfig": {"device": LOCAL_DEVICE},
}


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def create_job_request(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for a valid ``CreateJob`` call (a fresh ``clientToken`` each time).

    ``overrides`` merge into the defaults: a dict value merges into the nested dict it
    replaces (``instanceConfig={"instanceCount": 2}`` keeps the instance type), any other
    value replaces, and ``None`` removes the member.
    """
    request = copy.deepcopy(_BASE_CREATE_JOB)
    request["clientToken"] = str(uuid.uuid4())
    return _merge(request, overrides)


def unique_name(prefix: str = "job") -> str:
    """A job name no other test uses (valid for the jobName pattern, <= 50 characters)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
