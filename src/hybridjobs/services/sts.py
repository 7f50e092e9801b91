"""The STS surface (query protocol): GetCallerIdentity.

The Braket SDK asks it for the account that names the default bucket
(``amazon-braket-<region>-<account>``, spec §3.1 step 3). The caller is a fixed user of
the account the request's access key belongs to.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hybridjobs.services.iam import ROLE_NAME
from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.query import QueryProtocolService

USER_NAME = "hybridjobs"
JOB_KEY_PREFIX = "ASIA"


def user_id(account_id: str) -> str:
    """A stable IAM-style unique id (``AIDA`` + 17 upper-case characters) for the user."""
    digest = hashlib.sha256(f"{account_id}:{USER_NAME}".encode()).hexdigest().upper()
    return "AIDA" + digest[:17]


def get_caller_identity(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    """The caller: ``arn:aws:iam::<account>:user/hybridjobs`` in the request's account,
    or, for a job's own credentials (``ASIA…`` keys), the job's session of the Braket
    execution role, as STS names an assumed role:
    ``arn:aws:sts::<account>:assumed-role/<role>/<access key>``."""
    account = request.account_id
    key = request.access_key or ""
    if key.startswith(JOB_KEY_PREFIX):
        role_id = "AROA" + user_id(account)[4:]
        return {
            "UserId": f"{role_id}:{key}",
            "Account": account,
            "Arn": f"arn:aws:sts::{account}:assumed-role/{ROLE_NAME}/{key}",
        }
    return {
        "UserId": user_id(account),
        "Account": account,
        "Arn": f"arn:aws:iam::{account}:user/{USER_NAME}",
    }


class StsService(QueryProtocolService):
    """STS on the shared port."""

    def __init__(self) -> None:
        super().__init__("sts", {"GetCallerIdentity": get_caller_identity})
