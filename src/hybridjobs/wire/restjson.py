"""The rest-json protocol (Braket): request parsing and response serialization.

Parsing maps URI labels, query strings, headers and the JSON body onto the operation's
input members; serialization renders an output dict (wire member names) with the model's
timestamp formats, response code and header members. Error responses carry
``x-amzn-ErrorType`` plus a ``{"__type", "message"}`` body, which botocore's parser reads.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from hybridjobs.errors import ServiceError, ValidationException
from hybridjobs.timestamps import format_timestamp
from hybridjobs.wire.messages import WireRequest, WireResponse

JSON_CONTENT_TYPE = "application/json"


def _scalar_from_text(shape: Shape, text: str, field: str, problems: list[str]) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            problems.append(f"{field}: must be an integer, got {text!r}")
            return None
    if kind in ("double", "float"):
        try:
            return float(text)
        except ValueError:
            problems.append(f"{field}: must be a number, got {text!r}")
            return None
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        problems.append(f"{field}: must be true or false, got {text!r}")
        return None
    return text


def parse_request(
    operation: OperationModel, request: WireRequest, labels: dict[str, str]
) -> dict[str, Any]:
    """The operation's input parameters from ``request`` (not yet validated).

    Raises ValidationException when the body is not a JSON object or a query or header
    value cannot be converted to its member's type.
    """
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    assert isinstance(shape, StructureShape)
    problems: list[str] = []
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = labels[wire_name]
        elif location == "querystring":
            values = request.query.get(wire_name)
            if values is None:
                continue
            if isinstance(member, ListShape):
                params[name] = [_scalar_from_text(member.member, v, name, problems) for v in values]
            else:
                params[name] = _scalar_from_text(member, values[0], name, problems)
        elif location == "header":
            header = request.headers.get(wire_name.lower())
            if header is not None:
                params[name] = _scalar_from_text(member, header, name, problems)
        else:
            body_members[wire_name] = member
    if body_members and request.body.strip():
        try:
            document = json.loads(request.body)
        except ValueError as exc:
            raise ValidationException(f"The request body is not valid JSON: {exc}") from exc
        except RecursionError:
            raise ValidationException(
                "The request body is not valid JSON: it is nested too deeply."
            ) from None
        if not isinstance(document, dict):
            raise ValidationException("The request body must be a JSON object.")
        for wire_name, value in document.items():
            if wire_name in body_members:
                params[wire_name] = value
    if problems:
        raise ValidationException("; ".join(problems))
    return params


def _render(shape: Shape, value: Any, default_timestamp_format: str) -> Any:
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            member_value = value.get(name) if isinstance(value, dict) else None
            if member_value is None or member.serialization.get("location"):
                continue
            out[member.serialization.get("name", name)] = _render(
                member, member_value, default_timestamp_format
            )
        return out
    if isinstance(shape, ListShape):
        return [_render(shape.member, item, default_timestamp_format) for item in value]
    if isinstance(shape, MapShape):
        return {
            str(key): _render(shape.value, item, default_timestamp_format)
            for key, item in value.items()
        }
    if shape.type_name == "timestamp":
        fmt = shape.serialization.get("timestampFormat", default_timestamp_format)
        return format_timestamp(value, fmt)
    return value


def serialize_response(
    operation: OperationModel, output: dict[str, Any], request_id: str
) -> WireResponse:
    """A success response for ``output`` (a dict keyed by wire member names)."""
    headers = {"x-amzn-RequestId": request_id, "Content-Type": JSON_CONTENT_TYPE}
    shape = operation.output_shape
    body: dict[str, Any] = {}
    if shape is not None:
        assert isinstance(shape, StructureShape)
        body = _render(shape, output, "unixTimestamp")
        for name, member in shape.members.items():
            if member.serialization.get("location") == "header" and output.get(name) is not None:
                headers[member.serialization.get("name", name)] = str(output[name])
    status = int(operation.http.get("responseCode", 200))
    return WireResponse(status=status, headers=headers, body=json.dumps(body).encode())


def serialize_error(error: ServiceError, request_id: str) -> WireResponse:
    """An AWS-shaped JSON error response for ``error``."""
    body: dict[str, Any] = {"__type": error.code, "message": error.message, **error.extra}
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
        "Content-Type": JSON_CONTENT_TYPE,
    }
    return WireResponse(status=error.status, headers=headers, body=json.dumps(body).encode())
