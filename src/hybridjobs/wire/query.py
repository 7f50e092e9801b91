"""The ``query`` protocol (STS, IAM): form-encoded ``Action=...`` in, XML out.

A request carries ``Action``, ``Version`` and the input members flattened into form keys
(``Struct.Member``, lists as ``Name.member.N``, maps as ``Name.entry.N.key``/``.value``),
in a ``application/x-www-form-urlencoded`` POST body or the query string. The response is

    <OpResponse xmlns="<xmlNamespace>"><OpResult>...</OpResult>
      <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></OpResponse>

serialized from the botocore output shape (timestamps ISO 8601, lists as ``<member>``).
Errors are ``<ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/></Error>
<RequestId/></ErrorResponse>`` with the model's error code and HTTP status when it has
them (IAM's ``NoSuchEntityException`` is code ``NoSuchEntity``, 404), else 400 or 500.
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from hybridjobs.errors import InternalServiceException, ServiceError
from hybridjobs.timestamps import format_timestamp, parse_iso8601, to_datetime
from hybridjobs.wire import botomodel
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.validate import validate

log = logging.getLogger(__name__)

XML_CONTENT_TYPE = "text/xml"

# A handler gets the request (account, region, id) and the validated input parameters
# (member names); it returns the output members or raises ServiceError.
Handler = Callable[[WireRequest, dict[str, Any]], dict[str, Any]]


class MissingAction(ServiceError):
    code = "MissingAction"
    status = 400
    sender_fault = True


class InvalidAction(ServiceError):
    code = "InvalidAction"
    status = 400
    sender_fault = True


class ValidationError(ServiceError):
    """What STS and IAM answer for parameters that break the model's constraints."""

    code = "ValidationError"
    status = 400
    sender_fault = True


class NotImplementedAction(ServiceError):
    """A modeled action hybridjobs does not implement."""

    code = "NotImplemented"
    status = 400
    sender_fault = True


# -- request parsing ---------------------------------------------------------------------


def form_fields(request: WireRequest) -> dict[str, str]:
    """The flat form: the query string's fields, then the form body's (which win)."""
    fields = {key: values[0] for key, values in request.query.items() if values}
    content = request.headers.get("content-type", "")
    if request.body and (not content or "x-www-form-urlencoded" in content):
        text = request.body.decode("utf-8", errors="replace")
        fields.update(parse_qsl(text, keep_blank_values=True))
    return fields


def _scalar(shape: Shape, text: str, key: str, problems: list[str]) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "timestamp":
            return parse_iso8601(text) if not text.isdigit() else to_datetime(int(text))
        if kind == "blob":
            return base64.b64decode(text)
    except ValueError:
        problems.append(f"{key}: {text!r} is not a valid {kind}")
        return None
    return text


def _has_prefix(fields: Mapping[str, str], prefix: str) -> bool:
    return prefix in fields or any(key.startswith(prefix + ".") for key in fields)


def _parse(shape: Shape, prefix: str, fields: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            full = f"{prefix}.{key}" if prefix else key
            if _has_prefix(fields, full):
                value = _parse(member, full, fields, problems)
                if value is not None:
                    out[name] = value
        return out
    if isinstance(shape, ListShape):
        if fields.get(prefix) == "":
            return []  # botocore sends ``Name=`` for an empty list
        item_name = shape.member.serialization.get("name", "member")
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.{item_name}"
        items = []
        index = 1
        while _has_prefix(fields, f"{base}.{index}"):
            items.append(_parse(shape.member, f"{base}.{index}", fields, problems))
            index += 1
        return items
    if isinstance(shape, MapShape):
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result: dict[str, Any] = {}
        index = 1
        while _has_prefix(fields, f"{base}.{index}"):
            entry = f"{base}.{index}"
            map_key = fields.get(f"{entry}.{key_name}", "")
            result[map_key] = _parse(shape.value, f"{entry}.{value_name}", fields, problems)
            index += 1
        return result
    text = fields.get(prefix)
    return None if text is None else _scalar(shape, text, prefix, problems)


def parse_request(operation: OperationModel, fields: Mapping[str, str]) -> dict[str, Any]:
    """The operation's input parameters from the flat form (not yet validated)."""
    shape = operation.input_shape
    if shape is None:
        return {}
    problems: list[str] = []
    params = _parse(shape, "", fields, problems)
    if problems:
        raise ValidationError("; ".join(problems))
    assert isinstance(params, dict)
    return params


# -- response serialization --------------------------------------------------------------


def _xml(shape: Shape, value: Any) -> str:
    """The XML content (without the enclosing element) of ``value`` for ``shape``."""
    if isinstance(shape, StructureShape):
        parts = []
        for name, member in shape.members.items():
            member_value = value.get(name) if isinstance(value, dict) else None
            if member_value is None:
                continue
            tag = member.serialization.get("name", name)
            if isinstance(member, (ListShape, MapShape)) and member.serialization.get("flattened"):
                parts.append(_flattened(member, tag, member_value))
            else:
                parts.append(f"<{tag}>{_xml(member, member_value)}</{tag}>")
        return "".join(parts)
    if isinstance(shape, ListShape):
        tag = shape.member.serialization.get("name", "member")
        return "".join(f"<{tag}>{_xml(shape.member, item)}</{tag}>" for item in value)
    if isinstance(shape, MapShape):
        return "".join(_entry(shape, key, item) for key, item in value.items())
    return escape(_text(shape, value))


def _flattened(shape: ListShape | MapShape, tag: str, value: Any) -> str:
    if isinstance(shape, ListShape):
        return "".join(f"<{tag}>{_xml(shape.member, item)}</{tag}>" for item in value)
    return "".join(_entry(shape, key, item, tag) for key, item in value.items())


def _entry(shape: MapShape, key: Any, item: Any, tag: str = "entry") -> str:
    key_tag = shape.key.serialization.get("name", "key")
    value_tag = shape.value.serialization.get("name", "value")
    return (
        f"<{tag}><{key_tag}>{escape(str(key))}</{key_tag}>"
        f"<{value_tag}>{_xml(shape.value, item)}</{value_tag}></{tag}>"
    )


def _text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "iso8601")
        return str(format_timestamp(value, fmt))
    if kind == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.datetime):
        return str(format_timestamp(value, "iso8601"))
    return str(value)


def _namespace(model: ServiceModel) -> str:
    namespace = model.metadata.get("xmlNamespace") or (
        f"https://{model.endpoint_prefix}.amazonaws.com/doc/{model.api_version}/"
    )
    return str(namespace)


def serialize_response(
    model: ServiceModel, operation: OperationModel, output: dict[str, Any], request_id: str
) -> WireResponse:
    """The 200 XML response for ``output`` (member names of the operation's output)."""
    name = operation.name
    shape = operation.output_shape
    wrapper = shape.serialization.get("resultWrapper", f"{name}Result") if shape else None
    result = _xml(shape, output) if shape is not None else ""
    body = (
        f'<{name}Response xmlns="{_namespace(model)}">'
        + (f"<{wrapper}>{result}</{wrapper}>" if wrapper else "")
        + f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>"
        + f"</{name}Response>"
    )
    headers = {"x-amzn-RequestId": request_id, "Content-Type": XML_CONTENT_TYPE}
    return WireResponse(200, headers, body.encode("utf-8"))


def error_code_and_status(model: ServiceModel, error: ServiceError) -> tuple[str, int]:
    """The wire code and status of ``error``: the model's ``error`` trait of the shape named
    ``error.code`` when there is one, else the code itself with 400 or 500."""
    fallback = 400 if error.sender_fault else 500
    if error.code in model.shape_names:
        trait = model.shape_for(error.code).metadata.get("error") or {}
        return str(trait.get("code", error.code)), int(trait.get("httpStatusCode", fallback))
    return error.code, fallback


def serialize_error(model: ServiceModel, error: ServiceError, request_id: str) -> WireResponse:
    """The ``<ErrorResponse>`` for ``error``."""
    code, status = error_code_and_status(model, error)
    fault = "Sender" if error.sender_fault else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{_namespace(model)}"><Error><Type>{fault}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
    )
    headers = {"x-amzn-RequestId": request_id, "Content-Type": XML_CONTENT_TYPE}
    return WireResponse(status, headers, body.encode("utf-8"))


# -- the service -------------------------------------------------------------------------


class QueryProtocolService:
    """One query-protocol AWS service: a botocore model plus a handler per action."""

    def __init__(self, service_name: str, handlers: Mapping[str, Handler]) -> None:
        self.service_name = service_name
        self.model = botomodel.service_model(service_name)
        self.signing_name: str = self.model.signing_name
        unknown = set(handlers) - set(self.model.operation_names)
        if unknown:
            raise ValueError(f"{service_name} has no operations {sorted(unknown)}")
        self.handlers = dict(handlers)

    def _enum_values(self, shape: Shape) -> tuple[str, ...]:
        return botomodel.enum_values(self.service_name, shape)

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer ``request``; never raises (errors become ``<ErrorResponse>``)."""
        try:
            return self._handle(request)
        except ServiceError as error:
            return serialize_error(self.model, error, request.request_id)
        except Exception:
            log.exception("%s request %s failed", self.service_name, request.request_id)
            internal = InternalServiceException(
                f"The service hit an internal error; request id {request.request_id}."
            )
            return serialize_error(self.model, internal, request.request_id)

    def _handle(self, request: WireRequest) -> WireResponse:
        fields = form_fields(request)
        action = fields.get("Action")
        if not action:
            raise MissingAction("The request must contain the parameter Action.")
        if action not in self.model.operation_names:
            raise InvalidAction(
                f"The action {action} is not valid for this web service ({self.service_name})."
            )
        operation = self.model.operation_model(action)
        handler = self.handlers.get(action)
        if handler is None:
            raise NotImplementedAction(
                f"hybridjobs does not implement the {self.model.service_id} action {action}."
            )
        params = parse_request(operation, fields)
        problems = validate(operation.input_shape, params, self._enum_values)
        if problems:
            raise ValidationError(
                f"{len(problems)} validation error(s) detected: " + "; ".join(problems)
            )
        output = handler(request, params)
        return serialize_response(self.model, operation, output, request.request_id)
