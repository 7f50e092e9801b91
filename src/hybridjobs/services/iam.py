"""The IAM surface (query protocol): ListRoles and GetRole over one built-in role.

Every account has exactly one role, ``/service-role/AmazonBraketJobsExecutionRole``: the
one the Braket SDK looks for when no ``role_arn`` is given (spec §3.1 step 2). hybridjobs
runs jobs with its own credentials, so the role only has to exist and be well-formed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any
from urllib.parse import quote

from hybridjobs.errors import ServiceError
from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.query import QueryProtocolService

ROLE_NAME = "AmazonBraketJobsExecutionRole"
ROLE_PATH = "/service-role/"
ROLE_CREATED = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "braket.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class NoSuchEntityException(ServiceError):
    """IAM's not-found error (sent as code ``NoSuchEntity``, 404, from the model)."""

    code = "NoSuchEntityException"
    status = 404
    sender_fault = True


def role_arn(account_id: str) -> str:
    """The built-in role's ARN in ``account_id``."""
    return f"arn:aws:iam::{account_id}:role{ROLE_PATH}{ROLE_NAME}"


def execution_role(account_id: str) -> dict[str, Any]:
    """The built-in role as IAM's ``Role`` structure."""
    digest = hashlib.sha256(f"{account_id}:{ROLE_NAME}".encode()).hexdigest().upper()
    return {
        "Path": ROLE_PATH,
        "RoleName": ROLE_NAME,
        "RoleId": "AROA" + digest[:17],
        "Arn": role_arn(account_id),
        "CreateDate": ROLE_CREATED,
        # IAM returns policy documents URL-encoded.
        "AssumeRolePolicyDocument": quote(json.dumps(_TRUST_POLICY), safe=""),
        "Description": "Runs hybridjobs jobs (built in; hybridjobs does not enforce IAM).",
        "MaxSessionDuration": 3600,
    }


def list_roles(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    """The built-in role when its path starts with ``PathPrefix`` (default ``/``).

    There is one role, so a ``Marker`` (only ever the end) gives an empty page."""
    prefix = params.get("PathPrefix", "/")
    matches = ROLE_PATH.startswith(prefix) and "Marker" not in params
    roles = [execution_role(request.account_id)] if matches else []
    return {"Roles": roles, "IsTruncated": False}


def get_role(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    """The built-in role by name; NoSuchEntity for any other name."""
    if params["RoleName"] != ROLE_NAME:
        raise NoSuchEntityException(f"The role with name {params['RoleName']} cannot be found.")
    return {"Role": execution_role(request.account_id)}


class IamService(QueryProtocolService):
    """IAM on the shared port."""

    def __init__(self) -> None:
        super().__init__("iam", {"ListRoles": list_roles, "GetRole": get_role})
