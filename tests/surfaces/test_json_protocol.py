"""The json protocol (``wire/jsonrpc.py``) against botocore's json serializer and parser."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

from hybridjobs.services.logs_streams import InvalidParameterException
from hybridjobs.wire import botomodel, jsonrpc
from hybridjobs.wire.messages import WireRequest
from surfaces.roundtrip import Caller, CallError

UTC = datetime.UTC


def describe_groups(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "logGroups": [{"logGroupName": params.get("logGroupNamePrefix", "/g"), "creationTime": 5}],
        "unknownMember": "dropped",
    }


def failing(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("secret internals")


@pytest.fixture
def logs() -> Caller:
    service = jsonrpc.JsonProtocolService(
        "logs",
        {"DescribeLogGroups": describe_groups, "DescribeLogStreams": failing},
        invalid_parameter=InvalidParameterException,
    )
    return Caller(service)


def test_dispatches_by_target_and_serializes_the_output(logs: Caller) -> None:
    assert logs("DescribeLogGroups", logGroupNamePrefix="/aws") == {
        "logGroups": [{"logGroupName": "/aws", "creationTime": 5}]
    }
    assert logs.last is not None
    assert logs.last.request.headers["x-amz-target"] == "Logs_20140328.DescribeLogGroups"
    assert logs.last.response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert "unknownMember" not in json.loads(logs.last.response.body)


def test_validation_errors_name_the_field(logs: Caller) -> None:
    with pytest.raises(CallError) as error:
        logs("DescribeLogGroups", limit=0, logGroupNamePrefix="bad prefix!")
    assert (error.value.code, error.value.status) == ("InvalidParameterException", 400)
    assert "limit" in error.value.message
    assert "logGroupNamePrefix" in error.value.message
    assert logs.last is not None
    assert logs.last.response.headers["x-amzn-ErrorType"] == "InvalidParameterException"


def test_unknown_unimplemented_and_failing_operations(logs: Caller) -> None:
    with pytest.raises(CallError) as unimplemented:
        logs("PutLogEvents", logGroupName="/g", logStreamName="s", logEvents=[])
    assert (unimplemented.value.code, unimplemented.value.status) == (
        "NotImplementedException",
        400,
    )

    with pytest.raises(CallError) as internal:
        logs("DescribeLogStreams", logGroupName="/g")
    assert (internal.value.code, internal.value.status) == ("InternalServiceException", 500)
    assert "secret internals" not in internal.value.message

    request = logs.wire_request("DescribeLogGroups", {})
    request.headers["x-amz-target"] = "Logs_20140328.LaunchRockets"
    with pytest.raises(CallError) as unknown:
        logs.send("DescribeLogGroups", request)
    assert (unknown.value.code, unknown.value.status) == ("UnknownOperationException", 400)

    request.headers["x-amz-target"] = "DynamoDB_20120810.DescribeLogGroups"
    with pytest.raises(CallError) as wrong_service:
        logs.send("DescribeLogGroups", request)
    assert wrong_service.value.code == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_bodies_must_be_json_objects(logs: Caller, body: bytes) -> None:
    request = logs.wire_request("DescribeLogGroups", {})
    request.body = body
    with pytest.raises(CallError) as error:
        logs.send("DescribeLogGroups", request)
    assert (error.value.code, error.value.status) == ("SerializationException", 400)


def test_timestamps_and_blobs_render_as_botocore_expects() -> None:
    model = botomodel.service_model("ecr")
    op = model.operation_model("GetAuthorizationToken")
    expires = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    output = {"authorizationData": [{"authorizationToken": "QTpC", "expiresAt": expires}]}
    response = jsonrpc.serialize_response(model, op, output, "rid")
    assert json.loads(response.body)["authorizationData"][0]["expiresAt"] == pytest.approx(
        expires.timestamp()
    )
    parsed = create_parser("json").parse(
        {"status_code": 200, "headers": HeadersDict(response.headers), "body": response.body},
        op.output_shape,
    )
    assert parsed["authorizationData"][0]["expiresAt"] == expires

    kms = botomodel.service_model("kms")
    encrypt = kms.operation_model("Encrypt")
    blob = jsonrpc.serialize_response(kms, encrypt, {"CiphertextBlob": b"\x00\xff"}, "rid")
    parsed_blob = create_parser("json").parse(
        {"status_code": 200, "headers": HeadersDict(blob.headers), "body": blob.body},
        encrypt.output_shape,
    )
    assert parsed_blob["CiphertextBlob"] == b"\x00\xff"


def test_handlers_must_name_operations_of_the_model() -> None:
    with pytest.raises(ValueError, match="NoSuchOperation"):
        jsonrpc.JsonProtocolService("logs", {"NoSuchOperation": failing})
