"""The STS surface (query protocol): GetCallerIdentity.

The Braket SDK asks it for the account that names the default bucket
(``amazon-braket-<region>-<account>``, spec §3.1 step 3). The caller is a fixed user of
the account the request's access key belongs to.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.query import QueryProtocolService

USER_NAME = "hybridjobs"


def user_id(account_id: str) -> str:
    """A stable IAM-style unique id (``AIDA`` + 17 upper-case characters) for the user."""
    digest = hashlib.sha256(f"{account_id}:{USER_NAME}".encode()).hexdigest().upper()
    return "AIDA" + digest[:17]


def get_caller_identity(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    """The caller: ``arn:aws:iam::<account>:user/hybridjobs`` in the request's account."""
    account = request.account_id
    return {
        "UserId": user_id(account),
        "Account": account,
        "Arn": f"arn:aws:iam::{account}:user/{USER_NAME}",
    }


class StsService(QueryProtocolService):
    """STS on the shared port."""

    def __init__(self) -> None:
        super().__init__("sts", {"GetCallerIdentity": get_caller_identity})
