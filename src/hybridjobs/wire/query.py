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
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from hybridjobs.errors import ServiceError
from hybridjobs.timestamps import format_timestamp, parse_iso8601, to_datetime
from hybridjobs.wire import botomodel
from hybridjobs.wire.envelope import Resolved, ServiceCodec, serve
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.shapes import ShapeVisitor, is_flattened, present_members, wire_name

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


class _FormReader(ShapeVisitor[str, Any]):
    """Reads the value at a form key prefix (``Struct.Member``, ``List.member.N`` …);
    values that do not convert to their shape's type are collected in ``problems``."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = fields
        self.problems: list[str] = []

    def on_structure(self, shape: StructureShape, value: str) -> Any:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = wire_name(member, name)
            full = f"{value}.{key}" if value else key
            if _has_prefix(self.fields, full):
                parsed = self.visit(member, full)
                if parsed is not None:
                    out[name] = parsed
        return out

    def on_list(self, shape: ListShape, value: str) -> Any:
        if self.fields.get(value) == "":
            return []  # botocore sends ``Name=`` for an empty list
        item_name = wire_name(shape.member, "member")
        base = value if is_flattened(shape) else f"{value}.{item_name}"
        items = []
        index = 1
        while _has_prefix(self.fields, f"{base}.{index}"):
            items.append(self.visit(shape.member, f"{base}.{index}"))
            index += 1
        return items

    def on_map(self, shape: MapShape, value: str) -> Any:
        base = value if is_flattened(shape) else f"{value}.entry"
        key_name = wire_name(shape.key, "key")
        value_name = wire_name(shape.value, "value")
        result: dict[str, Any] = {}
        index = 1
        while _has_prefix(self.fields, f"{base}.{index}"):
            entry = f"{base}.{index}"
            map_key = self.fields.get(f"{entry}.{key_name}", "")
            result[map_key] = self.visit(shape.value, f"{entry}.{value_name}")
            index += 1
        return result

    def on_scalar(self, shape: Shape, value: str) -> Any:
        text = self.fields.get(value)
        return None if text is None else _scalar(shape, text, value, self.problems)


def parse_request(operation: OperationModel, fields: Mapping[str, str]) -> dict[str, Any]:
    """The operation's input parameters from the flat form (not yet validated)."""
    shape = operation.input_shape
    if shape is None:
        return {}
    reader = _FormReader(fields)
    params = reader.visit(shape, "")
    if reader.problems:
        raise ValidationError("; ".join(reader.problems))
    assert isinstance(params, dict)
    return params


# -- response serialization --------------------------------------------------------------


class _XmlWriter(ShapeVisitor[Any, str]):
    """The XML content (without the enclosing element) of a value for its shape."""

    def on_structure(self, shape: StructureShape, value: Any) -> str:
        parts = []
        for name, member, item in present_members(shape, value):
            tag = wire_name(member, name)
            if isinstance(member, ListShape) and is_flattened(member):
                parts.append(
                    "".join(f"<{tag}>{self.visit(member.member, i)}</{tag}>" for i in item)
                )
            elif isinstance(member, MapShape) and is_flattened(member):
                parts.append("".join(self._entry(member, k, v, tag) for k, v in item.items()))
            else:
                parts.append(f"<{tag}>{self.visit(member, item)}</{tag}>")
        return "".join(parts)

    def on_list(self, shape: ListShape, value: Any) -> str:
        tag = wire_name(shape.member, "member")
        return "".join(f"<{tag}>{self.visit(shape.member, item)}</{tag}>" for item in value)

    def on_map(self, shape: MapShape, value: Any) -> str:
        return "".join(self._entry(shape, key, item) for key, item in value.items())

    def on_scalar(self, shape: Shape, value: Any) -> str:
        return escape(_text(shape, value))

    def _entry(self, shape: MapShape, key: Any, item: Any, tag: str = "entry") -> str:
        key_tag = wire_name(shape.key, "key")
        value_tag = wire_name(shape.value, "value")
        return (
            f"<{tag}><{key_tag}>{escape(str(key))}</{key_tag}>"
            f"<{value_tag}>{self.visit(shape.value, item)}</{value_tag}></{tag}>"
        )


def _xml(shape: Shape, value: Any) -> str:
    """The XML content (without the enclosing element) of ``value`` for ``shape``."""
    return _XmlWriter().visit(shape, value)


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


class QueryProtocolService(ServiceCodec):
    """One query-protocol AWS service: a botocore model plus a handler per action,
    served through the shared envelope (:func:`hybridjobs.wire.envelope.serve`)."""

    def __init__(self, service_name: str, handlers: Mapping[str, Handler]) -> None:
        self.service_name = service_name
        self.model = botomodel.service_model(service_name)
        self.signing_name: str = self.model.signing_name
        unknown = set(handlers) - set(self.model.operation_names)
        if unknown:
            raise ValueError(f"{service_name} has no operations {sorted(unknown)}")
        self.handlers = dict(handlers)

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer ``request``; never raises (errors become ``<ErrorResponse>``)."""
        return serve(self, self.handlers.get, request)

    def resolve(self, request: WireRequest) -> Resolved:
        action = form_fields(request).get("Action")
        if not action:
            raise MissingAction("The request must contain the parameter Action.")
        if action not in self.model.operation_names:
            raise InvalidAction(
                f"The action {action} is not valid for this web service ({self.service_name})."
            )
        return Resolved(self.model.operation_model(action))

    def parse(
        self, operation: OperationModel, request: WireRequest, labels: dict[str, str]
    ) -> dict[str, Any]:
        return parse_request(operation, form_fields(request))

    def not_implemented(self, operation: OperationModel) -> ServiceError:
        return NotImplementedAction(
            f"hybridjobs does not implement the {self.model.service_id} action {operation.name}."
        )

    def invalid(self, operation: OperationModel, problems: list[str]) -> ServiceError:
        return ValidationError(
            f"{len(problems)} validation error(s) detected: " + "; ".join(problems)
        )

    def serialize(
        self, operation: OperationModel, output: Any, request: WireRequest
    ) -> WireResponse:
        return serialize_response(self.model, operation, output, request.request_id)

    def error(self, error: ServiceError, request: WireRequest) -> WireResponse:
        return serialize_error(self.model, error, request.request_id)
