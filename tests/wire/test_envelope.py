"""The one service envelope (``wire/envelope.py``) behaves the same in every protocol.

Each codec is driven through :func:`hybridjobs.wire.envelope.serve` with a real request
and its answer is read by botocore's own parser for that protocol: a handler that fails
unexpectedly answers the protocol's internal-error shape (naming the request id, no
traceback), invalid input answers its validation error naming the field before any
handler runs, and the operation's name is recorded for the access log either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore import parsers

from hybridjobs.wire import botomodel
from hybridjobs.wire.envelope import Handler, WireCodec, serve
from hybridjobs.wire.jsonrpc import JsonProtocolService
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.query import QueryProtocolService
from hybridjobs.wire.restjson import RestJsonCodec

DEVICE = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"


@dataclass(frozen=True)
class Case:
    """One protocol: a service, one of its operations, a valid and an invalid request."""

    service: str
    operation: str
    request: Callable[[bool], WireRequest]
    codec: Callable[[Handler], tuple[WireCodec[Any], Callable[[str], Handler | None]]]


def _request(method: str, path: str, headers: dict[str, str], body: bytes) -> WireRequest:
    return WireRequest(method, path, {}, headers, body, "us-west-2")


def _logs(valid: bool) -> WireRequest:
    body = b"{}" if valid else b'{"limit": 0}'
    target = {"x-amz-target": "Logs_20140328.DescribeLogGroups"}
    return _request("POST", "/", target, body)


def _sts(valid: bool) -> WireRequest:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    if not valid:
        body = b"Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=x"
    form = {"content-type": "application/x-www-form-urlencoded"}
    return _request("POST", "/", form, body)


def _braket(valid: bool) -> WireRequest:
    arn = DEVICE.replace(":", "%3A").replace("/", "%2F")
    if valid:
        return _request("GET", f"/device/{arn}", {}, b"")
    return _request("POST", "/job", {"content-type": "application/json"}, b"{}")


def _json_codec(handler: Handler) -> tuple[WireCodec[Any], Callable[[str], Handler | None]]:
    service = JsonProtocolService("logs", {"DescribeLogGroups": handler})
    return service, service.handlers.get


def _query_codec(handler: Handler) -> tuple[WireCodec[Any], Callable[[str], Handler | None]]:
    service = QueryProtocolService(
        "sts", {"GetCallerIdentity": handler, "GetAccessKeyInfo": handler}
    )
    return service, service.handlers.get


def _restjson_codec(handler: Handler) -> tuple[WireCodec[Any], Callable[[str], Handler | None]]:
    return RestJsonCodec("braket"), {"GetDevice": handler, "CreateJob": handler}.get


CASES = [
    Case("logs", "DescribeLogGroups", _logs, _json_codec),
    Case("sts", "GetCallerIdentity", _sts, _query_codec),
    Case("braket", "GetDevice", _braket, _restjson_codec),
]


def _parsed_error(service: str, operation: str, response: WireResponse) -> dict[str, Any]:
    model = botomodel.service_model(service)
    parser = parsers.create_parser(model.protocol)
    parsed: dict[str, Any] = parser.parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body},
        model.operation_model(operation).output_shape,
    )
    return dict(parsed["Error"])


def _boom(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("secret detail /srv/hybridjobs/internal/path")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.service)
def test_an_unexpected_failure_is_the_protocols_internal_error(case: Case) -> None:
    codec, handler_for = case.codec(_boom)
    request = case.request(True)

    response = serve(codec, handler_for, request)

    assert response.status == 500
    error = _parsed_error(case.service, case.operation, response)
    assert error["Code"] == "InternalServiceException"
    assert request.request_id in error["Message"]
    assert b"secret detail" not in response.body and b"Traceback" not in response.body
    assert request.operation == case.operation


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.service)
def test_invalid_input_is_refused_before_the_handler_runs(case: Case) -> None:
    called: list[str] = []

    def handler(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        called.append(request.operation)
        return {}

    codec, handler_for = case.codec(handler)
    request = case.request(False)

    response = serve(codec, handler_for, request)

    assert response.status == 400 and not called
    operation = request.operation
    error = _parsed_error(case.service, operation, response)
    assert error["Code"] in ("ValidationException", "InvalidParameterException", "ValidationError")
    assert "validation error" in error["Message"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.service)
def test_a_valid_request_reaches_the_handler_with_its_parameters(case: Case) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        return {}

    codec, handler_for = case.codec(handler)

    response = serve(codec, handler_for, case.request(True))

    assert response.status == 200, response.body
    assert len(seen) == 1
    if case.service == "braket":
        assert seen[0] == {"deviceArn": DEVICE}
