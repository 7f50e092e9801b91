"""Assertions about Braket API calls made through real boto3 clients."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

ISO_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def expect_error(
    call: Callable[..., Any], code: str, status: int | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Call ``call(**kwargs)``, require a ClientError with ``code`` (and ``status``);
    returns botocore's parsed error response."""
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response: dict[str, Any] = raised.value.response
    assert response["Error"]["Code"] == code, response
    if status is not None:
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    return response


def newest_job_arn(braket: Any) -> str | None:
    """The ARN of the caller's most recently created job (``None`` when there is none)."""
    jobs = braket.search_jobs(filters=[], maxResults=1)["jobs"]
    return jobs[0]["jobArn"] if jobs else None


class RawBodies:
    """Records the raw response body of every call a client makes (an observer, not a
    mock: botocore's ``before-parse`` event hands over the bytes it is about to parse)."""

    def __init__(self, client: Any) -> None:
        self.bodies: list[bytes] = []
        client.meta.events.register("before-parse", self._record)

    def _record(self, response_dict: dict[str, Any], **_: Any) -> None:
        self.bodies.append(response_dict["body"])

    @property
    def last(self) -> bytes:
        return self.bodies[-1]


def point_sdk_at(
    monkeypatch: pytest.MonkeyPatch, endpoint_url: str, region: str, workdir: Path
) -> Path:
    """Set up this process as a user would for the SDK: ``AWS_ENDPOINT_URL``, any key and
    a region, nothing of a developer's own AWS or job settings; CWD ``workdir``."""
    from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    for variable in (
        "AWS_PROFILE",
        "BRAKET_JOBS_ROLE_ARN",
        "AMZN_BRAKET_OUT_S3_BUCKET",
        "AMZN_BRAKET_JOB_TOKEN",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(workdir)
    return workdir
