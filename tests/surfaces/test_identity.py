"""STS GetCallerIdentity and the IAM role the Braket SDK looks for."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from hybridjobs.services.iam import ROLE_NAME, IamService, role_arn
from hybridjobs.services.sts import StsService
from surfaces.roundtrip import ACCOUNT, OTHER_ACCOUNT, Caller, CallError


def test_caller_identity_is_the_callers_account() -> None:
    sts = StsService()
    mine = Caller(sts)("GetCallerIdentity")
    theirs = Caller(sts, account=OTHER_ACCOUNT)("GetCallerIdentity")
    assert mine["Account"] == ACCOUNT
    assert mine["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/hybridjobs"
    assert mine["UserId"].startswith("AIDA")
    assert theirs["Account"] == OTHER_ACCOUNT
    assert theirs["UserId"] != mine["UserId"]


@pytest.fixture
def iam() -> Caller:
    return Caller(IamService(), region="us-east-1")


@pytest.mark.parametrize("prefix", [None, "/", "/service-role/", "/service"])
def test_list_roles_finds_the_execution_role(iam: Caller, prefix: str | None) -> None:
    params = {} if prefix is None else {"PathPrefix": prefix}
    response = iam("ListRoles", **params)
    assert response["IsTruncated"] is False
    (role,) = response["Roles"]
    assert role["RoleName"] == ROLE_NAME
    assert role["Path"] == "/service-role/"
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/{ROLE_NAME}"
    policy = json.loads(unquote(role["AssumeRolePolicyDocument"]))
    assert policy["Statement"][0]["Principal"] == {"Service": "braket.amazonaws.com"}


def test_list_roles_honours_the_path_prefix_and_marker(iam: Caller) -> None:
    assert iam("ListRoles", PathPrefix="/application/")["Roles"] == []
    assert iam("ListRoles", Marker="anything")["Roles"] == []


def test_get_role(iam: Caller) -> None:
    assert iam("GetRole", RoleName=ROLE_NAME)["Role"]["Arn"] == role_arn(ACCOUNT)
    with pytest.raises(CallError) as missing:
        iam("GetRole", RoleName="SomeOtherRole")
    assert (missing.value.code, missing.value.status) == ("NoSuchEntity", 404)
