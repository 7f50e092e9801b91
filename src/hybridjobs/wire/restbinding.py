"""botocore's REST member locations, once for rest-json and rest-xml.

A REST operation's input members travel in the URI path (``uri``), the query string
(``querystring``), single headers (``header``) or prefixed header families (``headers``:
S3's ``x-amz-meta-*``); output members travel in headers and in the status code
(``statusCode``). Both REST codecs read and write these places here, mirroring botocore's
``BaseRestSerializer`` (what a client sends) and ``BaseRestParser`` (what a client reads):

* URI labels arrive decoded by :class:`hybridjobs.wire.routing.RestRouter` (a greedy
  ``{Key+}`` label keeps its slashes);
* a query list is the key repeated; a query map takes every query key that no other
  member and no literal of the operation's ``requestUri`` claims (a map of lists keeps all
  of a key's values); a scalar takes the key's first value;
* a header list is comma-separated, items with a comma or a quote double-quoted;
* a ``jsonvalue`` header is base64-encoded JSON;
* a timestamp is read in its ``timestampFormat`` (default: iso8601 in the URI and query,
  rfc822 in headers) and, leniently, in the other two formats; an unreadable date in a
  conditional header (``If-*``) or ``Expires`` is ignored, as HTTP says;
* booleans are ``true``/``false``, numbers are decimal (floats also ``NaN``,
  ``Infinity``, ``-Infinity``), blobs are base64.

:func:`read_request` never raises for a bad value: it returns the members it could read
plus one problem per value it could not, and each codec turns the problems into its own
400 error. :func:`from_text` converts one text to its shape's type for the codecs' bodies
too (an XML element's text), raising :class:`BindingError`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from hybridjobs.timestamps import format_timestamp, parse_iso8601, to_datetime
from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.shapes import location, wire_name

URI_TIMESTAMP_FORMAT = "iso8601"
QUERY_TIMESTAMP_FORMAT = "iso8601"
HEADER_TIMESTAMP_FORMAT = "rfc822"

_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_IGNORABLE_DATE_HEADERS = re.compile(r"(?:x-amz-copy-source-)?if-.*|expires")
"""Headers whose unreadable date a recipient ignores (RFC 9110 §13.1.3, §5.3 of RFC 9111)."""


class BindingError(ValueError):
    """A text value does not convert to its shape's type; the message says why (``must be
    an integer, got 'x'``) without naming the field."""


@dataclass
class BoundInput:
    """The input members read from the URI, query string and headers.

    ``params`` is keyed by member name and holds only the members present on the wire;
    ``problems`` holds one ``"<member> (<where>): <why>"`` line per value that did not
    convert (that member is then absent from ``params``).
    """

    params: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def is_json_value_header(shape: Shape) -> bool:
    """Whether ``shape`` is a header member whose string is base64-encoded JSON
    (botocore's ``jsonvalue`` trait; the value is any JSON value)."""
    return bool(shape.serialization.get("jsonvalue")) and location(shape) == "header"


# -- text <-> scalar ----------------------------------------------------------------------


def from_text(shape: Shape, text: str, *, timestamp_format: str) -> Any:
    """``text`` as a value of scalar ``shape``; ``timestamp_format`` is the place's
    default when the shape names none. Raises :class:`BindingError`."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            if _INTEGER.fullmatch(text) is not None:
                return int(text)
        except ValueError:  # more digits than int() converts
            pass
        raise BindingError(f"must be an integer, got {_short(text)}")
    if kind in ("double", "float"):
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        if _FLOAT.fullmatch(text) is None:
            raise BindingError(f"must be a number, got {_short(text)}")
        return float(text)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise BindingError(f"must be true or false, got {_short(text)}")
        return text.lower() == "true"
    if kind == "timestamp":
        return _timestamp(text, shape.serialization.get("timestampFormat", timestamp_format))
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise BindingError(f"must be base64-encoded, got {_short(text)}") from None
    if kind == "string" and is_json_value_header(shape):
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError, RecursionError):
            raise BindingError(f"must be base64-encoded JSON, got {_short(text)}") from None
    return text


def _short(text: str) -> str:
    """``text`` quoted for an error message, cut to 60 characters."""
    quoted = repr(text)
    return quoted if len(quoted) <= 60 else quoted[:57] + "..."


def _timestamp(text: str, fmt: str) -> datetime.datetime:
    """``text`` read as ``fmt`` first, then as the other two AWS formats."""
    readers: dict[str, Callable[[str], datetime.datetime]] = {
        "iso8601": parse_iso8601,
        "rfc822": lambda t: to_datetime(parsedate_to_datetime(t)),
        "unixtimestamp": lambda t: to_datetime(float(t)),
    }
    first = readers.pop(fmt.lower(), None)
    for reader in ([first] if first else []) + list(readers.values()):
        try:
            return reader(text)
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            continue
    raise BindingError(f"must be a timestamp ({fmt}), got {_short(text)}")


def to_text(shape: Shape, value: Any, *, timestamp_format: str) -> str:
    """``value`` of scalar (or header-list) ``shape`` as text, as botocore reads it back;
    ``timestamp_format`` is the place's default when the shape names none."""
    kind = shape.type_name
    if isinstance(shape, ListShape):
        return ",".join(_list_item(shape.member, item, timestamp_format) for item in value)
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", timestamp_format)
        return str(format_timestamp(value, fmt))
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("double", "float") and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if kind == "blob":
        raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode()
        return base64.b64encode(bytes(raw)).decode("ascii")
    if kind == "string" and is_json_value_header(shape):
        compact = json.dumps(value, separators=(",", ":"))
        return base64.b64encode(compact.encode()).decode("ascii")
    return str(value)


def _list_item(shape: Shape, value: Any, timestamp_format: str) -> str:
    text = to_text(shape, value, timestamp_format=timestamp_format)
    if shape.type_name == "string" and ('"' in text or "," in text):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def split_header_list(text: str) -> list[str]:
    """The items of a comma-separated header value; a double-quoted item may hold commas
    and backslash-escaped quotes (botocore quotes such strings)."""
    items: list[str] = []
    position = 0
    while True:
        while position < len(text) and text[position] in " \t":
            position += 1
        if position < len(text) and text[position] == '"':
            item, position = _quoted(text, position + 1)
            comma = text.find(",", position)
            position = len(text) if comma < 0 else comma
        else:
            comma = text.find(",", position)
            end = len(text) if comma < 0 else comma
            item = text[position:end].strip()
            position = end
        items.append(item)
        if position >= len(text):
            return items
        position += 1  # the comma


def _quoted(text: str, position: int) -> tuple[str, int]:
    """The quoted string starting after its opening quote, and the index after its
    closing quote (or the end when unterminated)."""
    out: list[str] = []
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            out.append(text[position + 1])
            position += 2
            continue
        if char == '"':
            return "".join(out), position + 1
        out.append(char)
        position += 1
    return "".join(out), position


# -- requests -----------------------------------------------------------------------------


def read_request(
    operation: OperationModel, request: WireRequest, labels: Mapping[str, str]
) -> BoundInput:
    """The members of ``operation``'s input located in the URI (``labels``, decoded by the
    router, keyed by label name), the query string and the headers of ``request``
    (lower-case names). Body members are left to the codec."""
    bound = BoundInput()
    shape = operation.input_shape
    if shape is None:
        return bound
    assert isinstance(shape, StructureShape)
    claimed = _claimed_query_keys(operation, shape)
    for name, member in shape.members.items():
        where = location(member)
        key = wire_name(member, name)
        try:
            if where == "uri":
                value = _label(member, labels.get(key))
            elif where == "querystring":
                value = _query_member(member, key, request.query, claimed)
            elif where == "header":
                value = _header(member, request.headers.get(key.lower()), key)
            elif where == "headers":
                value = _header_map(key, request.headers)
            else:
                continue
        except BindingError as exc:
            bound.problems.append(f"{name} ({_place(where, key, member)}): {exc}")
            continue
        if value is not _ABSENT:
            bound.params[name] = value
    return bound


_ABSENT: Any = object()
"""What a reader returns for a member to leave out (not on the wire, or ignorable)."""


def _place(where: str | None, key: str, member: Shape) -> str:
    if where == "uri":
        return f"URI label {key}"
    if where == "querystring":
        return "query string" if isinstance(member, MapShape) else f"query parameter {key}"
    return f"header {key}"


def _label(member: Shape, text: str | None) -> Any:
    if text is None:
        return _ABSENT
    return from_text(member, text, timestamp_format=URI_TIMESTAMP_FORMAT)


def _query_member(
    member: Shape, key: str, query: Mapping[str, list[str]], claimed: frozenset[str]
) -> Any:
    if isinstance(member, MapShape):
        found = {k: _query_values(member.value, v) for k, v in query.items() if k not in claimed}
        return found or _ABSENT
    values = query.get(key)
    return _ABSENT if values is None else _query_values(member, values)


def _query_values(member: Shape, values: list[str]) -> Any:
    """A list member's items (the key repeated), else the key's first value."""
    if isinstance(member, ListShape):
        return [
            from_text(member.member, v, timestamp_format=QUERY_TIMESTAMP_FORMAT) for v in values
        ]
    return from_text(member, values[0], timestamp_format=QUERY_TIMESTAMP_FORMAT)


def _claimed_query_keys(operation: OperationModel, shape: StructureShape) -> frozenset[str]:
    """Query keys a query map does not take: other members' keys and the literal keys of
    the operation's ``requestUri`` (``?uploads``, ``?x-id=GetObject``)."""
    claimed = {
        wire_name(member, name)
        for name, member in shape.members.items()
        if location(member) == "querystring" and not isinstance(member, MapShape)
    }
    _, _, literal = str(operation.http.get("requestUri", "")).partition("?")
    claimed.update(item.partition("=")[0] for item in literal.split("&") if item)
    return frozenset(claimed)


def _header(member: Shape, text: str | None, header: str) -> Any:
    if text is None:
        return _ABSENT
    if isinstance(member, ListShape):
        return [
            from_text(member.member, item, timestamp_format=HEADER_TIMESTAMP_FORMAT)
            for item in split_header_list(text)
        ]
    try:
        return from_text(member, text, timestamp_format=HEADER_TIMESTAMP_FORMAT)
    except BindingError:
        if member.type_name == "timestamp" and _IGNORABLE_DATE_HEADERS.fullmatch(header.lower()):
            return _ABSENT
        raise


def _header_map(prefix: str, headers: Mapping[str, str]) -> Any:
    """The headers starting with ``prefix`` (any case), keyed by the rest of their
    (lower-case) names."""
    lowered = prefix.lower()
    found = {
        name[len(lowered) :]: value for name, value in headers.items() if name.startswith(lowered)
    }
    return found or _ABSENT


# -- responses ----------------------------------------------------------------------------


def _located(shape: StructureShape, output: Mapping[str, Any]) -> Iterator[tuple[str, Shape, Any]]:
    for name, member in shape.members.items():
        value = output.get(name)
        if value is not None and location(member) is not None:
            yield name, member, value


def write_headers(
    shape: StructureShape, output: Mapping[str, Any], headers: dict[str, str]
) -> None:
    """Add the ``header`` and ``headers`` members of ``output`` (keyed by member names)
    to ``headers``: a prefix map as one header per entry, the others as text botocore
    reads back (timestamps rfc822 unless modeled otherwise)."""
    for name, member, value in _located(shape, output):
        key = wire_name(member, name)
        if location(member) == "headers":
            for suffix, item in value.items():
                headers[f"{key}{suffix}"] = str(item)
        elif location(member) == "header":
            if isinstance(member, ListShape) and not value:
                continue  # botocore sends no header for an empty list
            headers[key] = to_text(member, value, timestamp_format=HEADER_TIMESTAMP_FORMAT)


def response_status(
    operation: OperationModel, output: Mapping[str, Any], override: int | None = None
) -> int:
    """The status code of a success response: ``override`` when given, else the output's
    ``statusCode`` member when it has one, else the model's ``responseCode`` (200)."""
    if override is not None:
        return override
    shape = operation.output_shape
    if isinstance(shape, StructureShape):
        for _, member, value in _located(shape, output):
            if location(member) == "statusCode":
                return int(value)
    return int(operation.http.get("responseCode", 200))
