"""The ``json`` protocol (CloudWatch Logs, ECR): ``X-Amz-Target`` picks the operation.

A request is ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON body
holding the operation's input members; the response is the output structure as JSON
(``application/x-amz-json-<jsonVersion>``), timestamps as epoch seconds, blobs base64.
Errors are status 400 (sender fault) or 500 with ``x-amzn-ErrorType: <Code>`` and a
``{"__type": <Code>, "message": ...}`` body, which botocore's JSON parser reads.

:class:`JsonProtocolService` is a complete :class:`~hybridjobs.services.base.AwsService`
for one botocore model: it routes, parses, validates (``wire/validate.py``), calls the
handler registered for the operation and serializes what it returns, through the shared
envelope (``wire/envelope.py``); bodies are read and written by ``wire/jsonbody.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel

from hybridjobs.errors import (
    NotImplementedByServiceError,
    ServiceError,
    ValidationException,
)
from hybridjobs.wire import botomodel, jsonbody
from hybridjobs.wire.envelope import Resolved, ServiceCodec, serve
from hybridjobs.wire.messages import WireRequest, WireResponse

# A handler gets the request (for its account, region and id) and the validated input
# parameters (wire member names); it returns the output members or raises ServiceError.
Handler = Callable[[WireRequest, dict[str, Any]], dict[str, Any]]


class UnknownOperationException(ServiceError):
    """The ``X-Amz-Target`` names no operation of the service (AWS's own code for it)."""

    code = "UnknownOperationException"
    status = 400
    sender_fault = True


class SerializationException(ServiceError):
    """The body is not a JSON object (AWS's code for an unreadable json-protocol body)."""

    code = "SerializationException"
    status = 400
    sender_fault = True


def content_type(model: ServiceModel) -> str:
    """The media type of the model's requests and responses."""
    return f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"


def find_operation(model: ServiceModel, request: WireRequest) -> OperationModel:
    """The operation ``X-Amz-Target`` names; UnknownOperationException when none."""
    target = request.headers.get("x-amz-target", "")
    prefix, _, name = target.partition(".")
    if request.method != "POST" or prefix != model.metadata.get("targetPrefix"):
        raise UnknownOperationException(
            f"Expected POST with X-Amz-Target {model.metadata.get('targetPrefix')}.<Operation>,"
            f" got {request.method} with X-Amz-Target {target!r}."
        )
    if name not in model.operation_names:
        raise UnknownOperationException(f"{name!r} is not an operation of {model.service_name}.")
    return model.operation_model(name)


def parse_body(request: WireRequest) -> dict[str, Any]:
    """The JSON object in the body (``{}`` for an empty body)."""
    return jsonbody.load_object(request.body, SerializationException)


render = jsonbody.render
"""``value`` as the JSON the model's ``shape`` calls for (unknown members dropped)."""


def serialize_response(
    model: ServiceModel, operation: OperationModel, output: dict[str, Any], request_id: str
) -> WireResponse:
    """A 200 response carrying ``output`` (a dict keyed by wire member names)."""
    body = render(operation.output_shape, output) if operation.output_shape is not None else {}
    headers = {"x-amzn-RequestId": request_id, "Content-Type": content_type(model)}
    return WireResponse(200, headers, json.dumps(body).encode())


def serialize_error(model: ServiceModel, error: ServiceError, request_id: str) -> WireResponse:
    """The json-protocol error response for ``error``: 400 when the sender is at fault."""
    status = 400 if error.sender_fault else 500
    return jsonbody.error_response(error, request_id, status, content_type(model))


class JsonProtocolService(ServiceCodec):
    """One json-protocol AWS service: a botocore model plus a handler per operation,
    served through the shared envelope (:func:`hybridjobs.wire.envelope.serve`).

    Operations of the model without a handler answer ``NotImplementedException`` (500 is
    wrong for a client that retries, so it is sent as a sender fault: 400).
    """

    def __init__(
        self,
        service_name: str,
        handlers: Mapping[str, Handler],
        invalid_parameter: type[ServiceError] = ValidationException,
    ) -> None:
        self.service_name = service_name
        self.model = botomodel.service_model(service_name)
        self.signing_name: str = self.model.signing_name
        unknown = set(handlers) - set(self.model.operation_names)
        if unknown:
            raise ValueError(f"{service_name} has no operations {sorted(unknown)}")
        self.handlers = dict(handlers)
        self.invalid_parameter = invalid_parameter

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer ``request``; never raises (errors become the json error shape)."""
        return serve(self, self.handlers.get, request)

    def resolve(self, request: WireRequest) -> Resolved:
        return Resolved(find_operation(self.model, request))

    def parse(
        self, operation: OperationModel, request: WireRequest, labels: dict[str, str]
    ) -> dict[str, Any]:
        return parse_body(request)

    def not_implemented(self, operation: OperationModel) -> ServiceError:
        return _NotImplemented(
            f"hybridjobs does not implement the {self.model.service_id} operation {operation.name}."
        )

    def invalid(self, operation: OperationModel, problems: list[str]) -> ServiceError:
        return self.invalid_parameter(
            f"{len(problems)} validation error(s) in {operation.name}: " + "; ".join(problems)
        )

    def serialize(
        self, operation: OperationModel, output: Any, request: WireRequest
    ) -> WireResponse:
        return serialize_response(self.model, operation, output, request.request_id)

    def error(self, error: ServiceError, request: WireRequest) -> WireResponse:
        return serialize_error(self.model, error, request.request_id)


class _NotImplemented(NotImplementedByServiceError):
    sender_fault = True
