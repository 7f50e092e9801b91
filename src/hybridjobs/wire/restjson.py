"""The rest-json protocol (Braket): request parsing and response serialization.

Parsing maps URI labels, query strings, headers and the JSON body onto the operation's
input members; serialization renders an output dict (wire member names) with the model's
timestamp formats, response code and header members. Error responses carry
``x-amzn-ErrorType`` plus a ``{"__type", "message"}`` body, which botocore's parser reads.
:class:`RestJsonCodec` gives these steps to the shared envelope (``wire/envelope.py``).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.model import ListShape, OperationModel, Shape, StructureShape

from hybridjobs.errors import (
    InternalServiceException,
    NotImplementedByServiceError,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from hybridjobs.wire import botomodel, jsonbody
from hybridjobs.wire.envelope import Resolved, WireCodec
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.routing import RestRouter

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
    if body_members:
        document = jsonbody.load_object(request.body, ValidationException)
        for wire_name, value in document.items():
            if wire_name in body_members:
                params[wire_name] = value
    if problems:
        raise ValidationException("; ".join(problems))
    return params


def serialize_response(
    operation: OperationModel, output: dict[str, Any], request_id: str
) -> WireResponse:
    """A success response for ``output`` (a dict keyed by wire member names)."""
    headers = {"x-amzn-RequestId": request_id, "Content-Type": JSON_CONTENT_TYPE}
    shape = operation.output_shape
    body: dict[str, Any] = {}
    if shape is not None:
        assert isinstance(shape, StructureShape)
        body = jsonbody.render(shape, output)
        for name, member in shape.members.items():
            if member.serialization.get("location") == "header" and output.get(name) is not None:
                headers[member.serialization.get("name", name)] = str(output[name])
    status = int(operation.http.get("responseCode", 200))
    return WireResponse(status=status, headers=headers, body=json.dumps(body).encode())


def serialize_error(error: ServiceError, request_id: str) -> WireResponse:
    """An AWS-shaped JSON error response for ``error`` (with its own status)."""
    return jsonbody.error_response(error, request_id, error.status, JSON_CONTENT_TYPE)


class RestJsonCodec(WireCodec[ServiceError]):
    """rest-json's wire details for one service, for :func:`hybridjobs.wire.envelope.serve`:
    the operation comes from the method and path (:class:`RestRouter`), errors are the
    service's modeled shapes (``UnknownOperationException``, ``ValidationException`` …)."""

    error_type = ServiceError

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        self.model = botomodel.service_model(service_name)
        self.router = RestRouter(self.model)

    def resolve(self, request: WireRequest) -> Resolved:
        match = self.router.match(request.method, request.raw_path, request.query)
        if match is None:
            raise UnknownOperationException(
                f"No {self.model.service_id} operation matches {request.method} {request.raw_path}."
            )
        return Resolved(match.operation, match.labels)

    def parse(
        self, operation: OperationModel, request: WireRequest, labels: dict[str, str]
    ) -> dict[str, Any]:
        return parse_request(operation, request, labels)

    def not_implemented(self, operation: OperationModel) -> ServiceError:
        return NotImplementedByServiceError(
            f"hybridjobs does not implement the {self.model.service_id} operation {operation.name}."
        )

    def invalid(self, operation: OperationModel, problems: list[str]) -> ServiceError:
        return ValidationException(
            f"{len(problems)} validation error(s) in {operation.name}: " + "; ".join(problems)
        )

    def internal(self, request: WireRequest) -> ServiceError:
        return InternalServiceException(
            f"The service hit an internal error; request id {request.request_id}."
        )

    def serialize(
        self, operation: OperationModel, output: Any, request: WireRequest
    ) -> WireResponse:
        return serialize_response(operation, output, request.request_id)

    def error(self, error: ServiceError, request: WireRequest) -> WireResponse:
        return serialize_error(error, request.request_id)
