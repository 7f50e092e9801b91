"""The rest-json protocol (Braket): request parsing and response serialization.

Parsing maps URI labels, query strings and headers (:mod:`hybridjobs.wire.restbinding`,
shared with rest-xml) and the JSON body onto the operation's input members; serialization
renders an output dict (member names) with the model's timestamp formats, response code
and header members. Error responses carry ``x-amzn-ErrorType`` plus a
``{"__type", "message"}`` body, which botocore's parser reads.
:class:`RestJsonCodec` gives these steps to the shared envelope (``wire/envelope.py``).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.model import OperationModel, StructureShape

from hybridjobs.errors import (
    NotImplementedByServiceError,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from hybridjobs.wire import botomodel, jsonbody, restbinding
from hybridjobs.wire.envelope import Resolved, ServiceCodec
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.routing import RestRouter
from hybridjobs.wire.shapes import location, wire_name

JSON_CONTENT_TYPE = "application/json"


def parse_request(
    operation: OperationModel, request: WireRequest, labels: dict[str, str]
) -> dict[str, Any]:
    """The operation's input parameters from ``request`` (not yet validated), keyed by
    member name: the URI, query and header members (:mod:`hybridjobs.wire.restbinding`)
    and the body members, read from the JSON object under their wire names.

    Raises ValidationException when the body is not a JSON object or a URI, query or header
    value cannot be converted to its member's type (naming every such member).
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    assert isinstance(shape, StructureShape)
    bound = restbinding.read_request(operation, request, labels)
    params = bound.params
    body_members = {
        wire_name(member, name): name
        for name, member in shape.members.items()
        if location(member) is None
    }
    if body_members:
        document = jsonbody.load_object(request.body, ValidationException)
        for key, value in document.items():
            if key in body_members:
                params[body_members[key]] = value
    if bound.problems:
        raise ValidationException("; ".join(bound.problems))
    return params


def serialize_response(
    operation: OperationModel, output: dict[str, Any], request_id: str
) -> WireResponse:
    """A success response for ``output`` (a dict keyed by member names): body members as
    JSON, header members as headers, the status from the model (or a ``statusCode``
    member)."""
    headers = {"x-amzn-RequestId": request_id, "Content-Type": JSON_CONTENT_TYPE}
    shape = operation.output_shape
    body: dict[str, Any] = {}
    if shape is not None:
        assert isinstance(shape, StructureShape)
        body = jsonbody.render(shape, output)
        restbinding.write_headers(shape, output, headers)
    status = restbinding.response_status(operation, output)
    return WireResponse(status=status, headers=headers, body=json.dumps(body).encode())


def serialize_error(error: ServiceError, request_id: str) -> WireResponse:
    """An AWS-shaped JSON error response for ``error`` (with its own status)."""
    return jsonbody.error_response(error, request_id, error.status, JSON_CONTENT_TYPE)


class RestJsonCodec(ServiceCodec):
    """rest-json's wire details for one service, for :func:`hybridjobs.wire.envelope.serve`:
    the operation comes from the method and path (:class:`RestRouter`), errors are the
    service's modeled shapes (``UnknownOperationException``, ``ValidationException`` …)."""

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

    def serialize(
        self, operation: OperationModel, output: Any, request: WireRequest
    ) -> WireResponse:
        return serialize_response(operation, output, request.request_id)

    def error(self, error: ServiceError, request: WireRequest) -> WireResponse:
        return serialize_error(error, request.request_id)
