"""Small helpers shared by the S3 tests."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

PATH_STYLE = Config(s3={"addressing_style": "path"})
VIRTUAL_STYLE = Config(s3={"addressing_style": "virtual"})
QUIET_SERVER = {"HYBRIDJOBS_RUN_SCHEDULER": "false", "HYBRIDJOBS_WARM_POOL": "false"}
"""Settings for servers a test starts itself: no scheduler, no warm pool."""


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """The S3 error code and HTTP status of a boto3 ``ClientError``."""
    response: Any = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
