"""The ``json`` protocol (CloudWatch Logs, ECR): ``X-Amz-Target`` picks the operation.

A request is ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON body
holding the operation's input members; the response is the output structure as JSON
(``application/x-amz-json-<jsonVersion>``), timestamps as epoch seconds, blobs base64.
Errors are status 400 (sender fault) or 500 with ``x-amzn-ErrorType: <Code>`` and a
``{"__type": <Code>, "message": ...}`` body, which botocore's JSON parser reads.

:class:`JsonProtocolService` is a complete :class:`~hybridjobs.services.base.AwsService`
for one botocore model: it routes, parses, validates (``wire/validate.py``), calls the
handler registered for the operation and serializes what it returns.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from hybridjobs.errors import (
    InternalServiceException,
    NotImplementedByServiceError,
    ServiceError,
    ValidationException,
)
from hybridjobs.timestamps import format_timestamp
from hybridjobs.wire import botomodel
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.validate import validate

log = logging.getLogger(__name__)

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
    if not request.body.strip():
        return {}
    try:
        document = json.loads(request.body)
    except ValueError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise SerializationException(
            "The request body is not valid JSON: it is nested too deeply."
        ) from None
    if not isinstance(document, dict):
        raise SerializationException("The request body must be a JSON object.")
    return document


def render(shape: Shape, value: Any) -> Any:
    """``value`` as the JSON the model's ``shape`` calls for (unknown members dropped)."""
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            member_value = value.get(name) if isinstance(value, dict) else None
            if member_value is not None:
                out[name] = render(member, member_value)
        return out
    if isinstance(shape, ListShape):
        return [render(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {str(key): render(shape.value, item) for key, item in value.items()}
    if shape.type_name == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if shape.type_name == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def serialize_response(
    model: ServiceModel, operation: OperationModel, output: dict[str, Any], request_id: str
) -> WireResponse:
    """A 200 response carrying ``output`` (a dict keyed by wire member names)."""
    body = render(operation.output_shape, output) if operation.output_shape is not None else {}
    headers = {"x-amzn-RequestId": request_id, "Content-Type": content_type(model)}
    return WireResponse(200, headers, json.dumps(body).encode())


def serialize_error(model: ServiceModel, error: ServiceError, request_id: str) -> WireResponse:
    """The json-protocol error response for ``error``: 400 when the sender is at fault."""
    body: dict[str, Any] = {"__type": error.code, "message": error.message, **error.extra}
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
        "Content-Type": content_type(model),
    }
    status = 400 if error.sender_fault else 500
    return WireResponse(status, headers, json.dumps(body).encode())


class JsonProtocolService:
    """One json-protocol AWS service: a botocore model plus a handler per operation.

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

    def _enum_values(self, shape: Shape) -> tuple[str, ...]:
        return botomodel.enum_values(self.service_name, shape)

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer ``request``; never raises (errors become the json error shape)."""
        try:
            operation = find_operation(self.model, request)
            handler = self.handlers.get(operation.name)
            if handler is None:
                raise _NotImplemented(
                    f"hybridjobs does not implement the {self.model.service_id} operation "
                    f"{operation.name}."
                )
            params = parse_body(request)
            problems = validate(operation.input_shape, params, self._enum_values)
            if problems:
                raise self.invalid_parameter(
                    f"{len(problems)} validation error(s) in {operation.name}: "
                    + "; ".join(problems)
                )
            output = handler(request, params)
            return serialize_response(self.model, operation, output, request.request_id)
        except ServiceError as error:
            return serialize_error(self.model, error, request.request_id)
        except Exception:
            log.exception("%s request %s failed", self.service_name, request.request_id)
            internal = InternalServiceException(
                f"The service hit an internal error; request id {request.request_id}."
            )
            return serialize_error(self.model, internal, request.request_id)


class _NotImplemented(NotImplementedByServiceError):
    sender_fault = True
