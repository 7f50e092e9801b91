"""The query protocol (``wire/query.py``) against botocore's own query serializer and parser."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from hybridjobs.errors import ServiceError
from hybridjobs.services.iam import NoSuchEntityException
from hybridjobs.wire import botomodel, query
from hybridjobs.wire.messages import WireRequest
from surfaces.roundtrip import Caller, CallError

UTC = datetime.UTC
REQUEST_ID = "0b8c3a8e-0000-4000-8000-000000000002"


def flat_form(service: str, operation: str, params: dict[str, Any]) -> dict[str, str]:
    """The form fields botocore's query serializer sends for ``operation(**params)``."""
    op = botomodel.operation_model(service, operation)
    body = create_serializer("query").serialize_to_request(params, op)["body"]
    return {str(k): str(v) for k, v in body.items()}


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        (
            "iam",
            "CreateRole",
            {
                "RoleName": "r",
                "Path": "/service-role/",
                "AssumeRolePolicyDocument": '{"Version": "2012-10-17"}',
                "MaxSessionDuration": 7200,
                "Tags": [{"Key": "team", "Value": "qml"}, {"Key": "k2", "Value": "v & w"}],
            },
        ),
        (
            "sts",
            "AssumeRole",
            {
                "RoleArn": "arn:aws:iam::123456789012:role/x",
                "RoleSessionName": "session",
                "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/A"}],
                "TransitiveTagKeys": [],
                "DurationSeconds": 900,
            },
        ),
        (
            "rds",
            "DescribeEvents",
            {
                "StartTime": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                "EventCategories": ["backup", "failure"],
                "Filters": [{"Name": "n", "Values": ["a", "b"]}],
                "MaxRecords": 20,
            },
        ),
        (
            "sns",
            "Publish",
            {
                "Message": "hello",
                "MessageAttributes": {
                    "bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
                    "txt": {"DataType": "String", "StringValue": "x"},
                },
            },
        ),
    ],
)
def test_requests_parse_back_to_the_parameters(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    op = botomodel.operation_model(service, operation)
    assert query.parse_request(op, flat_form(service, operation, params)) == params


def parse_response(service: str, operation: str, body: bytes, status: int = 200) -> Any:
    op = botomodel.operation_model(service, operation)
    return create_parser("query").parse(
        {"status_code": status, "headers": HeadersDict(), "body": body}, op.output_shape
    )


def test_responses_round_trip_through_botocore() -> None:
    role = {
        "Path": "/service-role/",
        "RoleName": "R",
        "RoleId": "AROAEXAMPLEEXAMPLE1",
        "Arn": "arn:aws:iam::123456789012:role/service-role/R",
        "CreateDate": datetime.datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC),
        "Description": "<a & b>",
        "MaxSessionDuration": 3600,
        "Tags": [{"Key": "k", "Value": "v"}],
        "RoleLastUsed": {
            "LastUsedDate": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
            "Region": "us-west-2",
        },
    }
    output = {"Roles": [role], "IsTruncated": True, "Marker": "m"}
    model = botomodel.service_model("iam")
    op = model.operation_model("ListRoles")
    response = query.serialize_response(model, op, output, REQUEST_ID)

    parsed = parse_response("iam", "ListRoles", response.body)
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    parsed.pop("ResponseMetadata")
    assert parsed == output
    assert response.headers["x-amzn-RequestId"] == REQUEST_ID
    assert b'<ListRolesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">' in (
        response.body
    )

    attributes = {"Attributes": {"Policy": "{}", "Owner": "123456789012"}}
    sns = botomodel.service_model("sns")
    sns_op = sns.operation_model("GetTopicAttributes")
    body = query.serialize_response(sns, sns_op, attributes, REQUEST_ID).body
    parsed_map = parse_response("sns", "GetTopicAttributes", body)
    parsed_map.pop("ResponseMetadata")
    assert parsed_map == attributes


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (NoSuchEntityException("no role"), "NoSuchEntity", 404),
        (query.ValidationError("bad"), "ValidationError", 400),
        (query.InvalidAction("what"), "InvalidAction", 400),
    ],
)
def test_errors_use_the_model_code_and_status(error: ServiceError, code: str, status: int) -> None:
    model = botomodel.service_model("iam")
    response = query.serialize_error(model, error, REQUEST_ID)
    assert response.status == status
    parsed = parse_response("iam", "GetRole", response.body, status)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def echo_roles(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {"Roles": [], "IsTruncated": False, "Marker": params.get("PathPrefix", "-")}


def failing(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("secret internals")


@pytest.fixture
def iam() -> Caller:
    return Caller(query.QueryProtocolService("iam", {"ListRoles": echo_roles, "GetRole": failing}))


def test_service_dispatches_validates_and_reports(iam: Caller) -> None:
    assert iam("ListRoles", PathPrefix="/p/")["Marker"] == "/p/"

    invalid_cases: list[tuple[dict[str, Any], str]] = [
        ({"MaxItems": 0}, "MaxItems"),
        ({"PathPrefix": "nope"}, "PathPrefix"),
    ]
    for params, field in invalid_cases:
        with pytest.raises(CallError) as invalid:
            iam("ListRoles", **params)
        assert (invalid.value.code, invalid.value.status) == ("ValidationError", 400)
        assert field in invalid.value.message

    with pytest.raises(CallError) as unimplemented:
        iam("ListUsers")
    assert unimplemented.value.code == "NotImplemented"

    with pytest.raises(CallError) as internal:
        iam("GetRole", RoleName="x")
    assert internal.value.status == 500
    assert "secret internals" not in internal.value.message
    assert internal.value.parsed["Error"]["Type"] == "Receiver"


def test_action_is_required_and_must_exist(iam: Caller) -> None:
    request = iam.wire_request("ListRoles", {})
    request.body = b"Version=2010-05-08"
    with pytest.raises(CallError) as missing:
        iam.send("ListRoles", request)
    assert missing.value.code == "MissingAction"
    request.body = b"Action=LaunchRockets&Version=2010-05-08"
    with pytest.raises(CallError) as invalid:
        iam.send("ListRoles", request)
    assert invalid.value.code == "InvalidAction"


def test_query_string_requests_are_accepted(iam: Caller) -> None:
    request = iam.wire_request("ListRoles", {})
    request.method, request.body = "GET", b""
    request.query = {"Action": ["ListRoles"], "Version": ["2010-05-08"], "PathPrefix": ["/q/"]}
    assert iam.send("ListRoles", request)["Marker"] == "/q/"
