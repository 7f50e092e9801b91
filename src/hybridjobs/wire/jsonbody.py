"""JSON bodies for the two JSON protocols (rest-json and json): reading the request's
object and writing a shape's value, with one set of rules for both.

Written documents follow botocore's JSON serializer: members under their wire names,
``None`` members left out, members located outside the body (URI, query, headers) left
out, timestamps in the shape's ``timestampFormat`` (default epoch seconds), blobs base64.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from hybridjobs.errors import ServiceError
from hybridjobs.timestamps import format_timestamp
from hybridjobs.wire.messages import WireResponse
from hybridjobs.wire.shapes import ShapeVisitor, present_members, wire_name


def load_object(body: bytes, error_type: type[ServiceError]) -> dict[str, Any]:
    """The JSON object in ``body`` (``{}`` when blank); ``error_type`` (the protocol's
    code for an unreadable body) when it is not JSON, nests too deeply or is not an
    object."""
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise error_type(f"The request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise error_type("The request body is not valid JSON: it is nested too deeply.") from None
    if not isinstance(document, dict):
        raise error_type("The request body must be a JSON object.")
    return document


class JsonWriter(ShapeVisitor[Any, Any]):
    """A shape's value as the JSON-ready Python value the model calls for."""

    def __init__(self, default_timestamp_format: str = "unixTimestamp") -> None:
        self.default_timestamp_format = default_timestamp_format

    def on_structure(self, shape: StructureShape, value: Any) -> Any:
        return {
            wire_name(member, name): self.visit(member, item)
            for name, member, item in present_members(shape, value, body_only=True)
        }

    def on_list(self, shape: ListShape, value: Any) -> Any:
        return [self.visit(shape.member, item) for item in value]

    def on_map(self, shape: MapShape, value: Any) -> Any:
        return {str(key): self.visit(shape.value, item) for key, item in value.items()}

    def on_scalar(self, shape: Shape, value: Any) -> Any:
        if shape.type_name == "timestamp":
            fmt = shape.serialization.get("timestampFormat", self.default_timestamp_format)
            return format_timestamp(value, fmt)
        if shape.type_name == "blob" and isinstance(value, (bytes, bytearray)):
            return base64.b64encode(bytes(value)).decode("ascii")
        return value


def render(shape: Shape, value: Any) -> Any:
    """``value`` as the JSON the model's ``shape`` calls for (unknown members dropped)."""
    return JsonWriter().visit(shape, value)


def error_response(
    error: ServiceError, request_id: str, status: int, content_type: str
) -> WireResponse:
    """The JSON protocols' error: ``x-amzn-ErrorType: <code>`` and a ``{"__type": <code>,
    "message": ..., <modeled extras>}`` body, which botocore's JSON parsers read."""
    body: dict[str, Any] = {"__type": error.code, "message": error.message, **error.extra}
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
        "Content-Type": content_type,
    }
    return WireResponse(status, headers, json.dumps(body).encode())
