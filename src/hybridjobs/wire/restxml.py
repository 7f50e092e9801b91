"""The rest-xml protocol (S3): request parsing and response/error serialization.

Everything is driven by a botocore operation model, mirroring botocore's own
``RestXMLSerializer`` (which writes requests) and ``RestXMLParser`` (which reads
responses), so whatever boto3 sends parses here and whatever this module writes parses
in boto3:

* members located in the URI, the query string, a header or a header prefix map
  (``x-amz-meta-*``) come from there; the payload member is the raw body when it is a
  blob, or an XML document when it is a structure; other members form an XML body;
* XML lists are wrapped (``<Buckets><Bucket>…``) unless the model marks them
  ``flattened``; element names come from ``locationName`` (botocore's ``name``);
* timestamps are ISO 8601 in XML bodies and RFC 1123 in headers unless the model gives
  a ``timestampFormat``.

The model names no root element for output bodies, so callers pass the documented one
(S3: ``ListBucketResult`` …). Bad XML raises :class:`MalformedXmlError`; a header or query
value that does not convert to its member's type raises :class:`InvalidParameterError`.
"""

from __future__ import annotations

import base64
import datetime
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from hybridjobs.timestamps import format_timestamp, parse_iso8601
from hybridjobs.wire.messages import WireRequest, WireResponse

XML_CONTENT_TYPE = "application/xml"
MAX_XML_BODY_BYTES = 4 * 1024 * 1024
"""Request XML documents larger than this are refused (S3's largest is DeleteObjects)."""


class RestXmlError(ValueError):
    """Base class of request-parsing errors."""


class MalformedXmlError(RestXmlError):
    """The request's XML body is not well-formed or does not fit the operation's shape."""


class InvalidParameterError(RestXmlError):
    """A header or query value cannot be converted to its member's type."""


# -- parsing ------------------------------------------------------------------------------


def parse_request(
    operation: OperationModel, request: WireRequest, labels: dict[str, str]
) -> dict[str, Any]:
    """The operation's input parameters from ``request`` (not yet validated).

    Absent members are left out. A streaming or blob payload member receives the body as
    ``bytes`` (even when empty); a structure payload is parsed only when the body is not
    blank. Unknown query keys, headers and XML elements are ignored.
    """
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    assert isinstance(shape, StructureShape)
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = labels[wire_name]
        elif location == "querystring":
            value = _from_query(member, wire_name, request.query)
            if value is not None:
                params[name] = value
        elif location == "header":
            header = request.headers.get(wire_name.lower())
            if header is not None:
                value = _scalar_from_header(member, header, wire_name)
                if value is not None:
                    params[name] = value
        elif location == "headers":
            prefix = wire_name.lower()
            found = {
                header[len(prefix) :]: value
                for header, value in request.headers.items()
                if header.startswith(prefix)
            }
            if found:
                params[name] = found
    if payload is not None:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            params[payload] = request.body
        elif request.body.strip():
            params[payload] = _parse_document(member, request.body)
    elif any(_in_body(member) for member in shape.members.values()) and request.body.strip():
        params.update(_parse_document(shape, request.body))
    return params


def _in_body(member: Shape) -> bool:
    return member.serialization.get("location") is None


def _from_query(member: Shape, wire_name: str, query: dict[str, list[str]]) -> Any:
    if isinstance(member, MapShape):
        return {key: values[0] for key, values in query.items()} or None
    values = query.get(wire_name)
    if values is None:
        return None
    if isinstance(member, ListShape):
        return [_scalar(member.member, value, wire_name) for value in values]
    return _scalar(member, values[0], wire_name)


def _scalar_from_header(member: Shape, text: str, wire_name: str) -> Any:
    if isinstance(member, ListShape):
        return [_scalar(member.member, part.strip(), wire_name) for part in text.split(",")]
    if member.type_name == "timestamp":
        return _header_timestamp(text)
    return _scalar(member, text, wire_name)


def _header_timestamp(text: str) -> datetime.datetime | None:
    """An HTTP-date (or ISO 8601) header value; ``None`` when unreadable (HTTP says to
    ignore an invalid date in a conditional header)."""
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        pass
    try:
        return parse_iso8601(text)
    except ValueError:
        return None


def _scalar(shape: Shape, text: str, field: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
    except ValueError:
        raise InvalidParameterError(f"{field}: {text!r} is not a number") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise InvalidParameterError(f"{field}: {text!r} is not true or false")
        return text.lower() == "true"
    if kind == "timestamp":
        try:
            return parse_iso8601(text)
        except ValueError:
            raise InvalidParameterError(f"{field}: {text!r} is not a timestamp") from None
    if kind == "blob":
        return text.encode("utf-8")
    return text


def _parse_document(shape: Shape, body: bytes) -> Any:
    if len(body) > MAX_XML_BODY_BYTES:
        raise MalformedXmlError(f"The XML document is larger than {MAX_XML_BODY_BYTES} bytes.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedXmlError(f"The XML you provided was not well-formed: {exc}") from None
    return _read(shape, root)


def _tag(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


def _member_xml_name(member: Shape, name: str) -> str:
    """The element name of ``member`` inside its structure (botocore's rule)."""
    if isinstance(member, ListShape) and member.serialization.get("flattened"):
        list_member_name = member.member.serialization.get("name")
        if list_member_name is not None:
            return str(list_member_name)
    return str(member.serialization.get("name", name))


def _read(shape: Shape, element: ET.Element) -> Any:
    if isinstance(shape, StructureShape):
        children: dict[str, list[ET.Element]] = {}
        for child in element:
            children.setdefault(_tag(child), []).append(child)
        parsed: dict[str, Any] = {}
        for name, member in shape.members.items():
            if not _in_body(member):
                continue
            xml_name = _member_xml_name(member, name)
            if member.serialization.get("xmlAttribute"):
                if xml_name in element.attrib:
                    parsed[name] = element.attrib[xml_name]
                continue
            # botocore's serializer names a flattened list's elements after the member,
            # its parser after the list's member shape: accept either.
            found = children.get(xml_name) or children.get(member.serialization.get("name", name))
            if not found:
                continue
            if isinstance(member, ListShape) and member.serialization.get("flattened"):
                parsed[name] = [_read(member.member, item) for item in found]
            else:
                parsed[name] = _read(member, found[0])
        return parsed
    if isinstance(shape, ListShape):
        return [_read(shape.member, item) for item in element]
    if isinstance(shape, MapShape):
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        entries = [element] if shape.serialization.get("flattened") else list(element)
        result: dict[str, Any] = {}
        for entry in entries:
            parts = {_tag(child): child for child in entry}
            if key_name in parts and value_name in parts:
                result[parts[key_name].text or ""] = _read(shape.value, parts[value_name])
        return result
    text = element.text or ""
    try:
        return _scalar(shape, text.strip() if shape.type_name != "string" else text, _tag(element))
    except InvalidParameterError as exc:
        raise MalformedXmlError(str(exc)) from None


# -- serialization ------------------------------------------------------------------------


def serialize_response(
    operation: OperationModel,
    output: dict[str, Any],
    request_id: str,
    *,
    root_name: str | None = None,
    namespace: str | None = None,
    status: int | None = None,
    request_id_header: str = "x-amz-request-id",
) -> WireResponse:
    """A success response for ``output`` (keyed by the model's member names).

    Header members become headers (``Content-Length`` too, so HEAD responses can announce
    a size with an empty body); a blob payload is the body as is; a structure payload or
    the remaining body members become an XML document whose root is the payload member's
    ``locationName``, else ``root_name``, else the output shape's name. ``status``
    overrides the model's ``responseCode`` (S3 GetObject answers 206 for a range).
    """
    headers: dict[str, str] = {request_id_header: request_id}
    body = b""
    shape = operation.output_shape
    if shape is not None:
        assert isinstance(shape, StructureShape)
        _render_headers(shape, output, headers)
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            value = output.get(payload)
            if member.type_name in ("blob", "string"):
                body = value.encode() if isinstance(value, str) else bytes(value or b"")
            elif value is not None:
                root = member.serialization.get("name", member.name)
                body = _document(member, value, root, namespace)
                headers.setdefault("Content-Type", XML_CONTENT_TYPE)
        elif any(_in_body(m) and output.get(n) is not None for n, m in shape.members.items()):
            body = _document(shape, output, root_name or shape.name, namespace)
            headers.setdefault("Content-Type", XML_CONTENT_TYPE)
    headers.setdefault("Content-Length", str(len(body)))
    code = status if status is not None else int(operation.http.get("responseCode", 200))
    return WireResponse(status=code, headers=headers, body=body)


def serialize_error(
    code: str,
    message: str,
    status: int,
    request_id: str,
    *,
    fields: dict[str, str] | None = None,
    with_body: bool = True,
    request_id_header: str = "x-amz-request-id",
) -> WireResponse:
    """An S3-style error: ``<Error><Code/><Message/>…fields…<RequestId/></Error>``.

    ``with_body=False`` (answers to HEAD) sends the status and headers only, as S3 does.
    """
    headers = {request_id_header: request_id}
    if not with_body:
        headers["Content-Length"] = "0"
        return WireResponse(status=status, headers=headers)
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = code
    ET.SubElement(root, "Message").text = message
    for name, value in (fields or {}).items():
        ET.SubElement(root, name).text = value
    ET.SubElement(root, "RequestId").text = request_id
    body = _xml_bytes(root)
    headers["Content-Type"] = XML_CONTENT_TYPE
    headers["Content-Length"] = str(len(body))
    return WireResponse(status=status, headers=headers, body=body)


def _render_headers(shape: StructureShape, output: dict[str, Any], headers: dict[str, str]) -> None:
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        value = output.get(name)
        if value is None or location not in ("header", "headers"):
            continue
        wire_name = member.serialization.get("name", name)
        if location == "headers":
            for suffix, item in value.items():
                headers[f"{wire_name}{suffix}"] = str(item)
        else:
            headers[wire_name] = _header_text(member, value)


def _header_text(member: Shape, value: Any) -> str:
    if member.type_name == "timestamp":
        fmt = member.serialization.get("timestampFormat", "rfc822")
        return str(format_timestamp(value, fmt))
    if member.type_name == "boolean":
        return "true" if value else "false"
    if isinstance(member, ListShape):
        return ",".join(str(item) for item in value)
    return str(value)


def _document(shape: Shape, value: Any, root_name: str, namespace: str | None) -> bytes:
    root = ET.Element(root_name)
    if namespace:
        root.set("xmlns", namespace)
    _fill(shape, value, root)
    return _xml_bytes(root)


def _xml_bytes(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _fill(shape: Shape, value: Any, element: ET.Element) -> None:
    """Write ``value`` (of ``shape``) as the content of ``element``."""
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            item = value.get(name) if isinstance(value, dict) else None
            if item is None or not _in_body(member):
                continue
            xml_name = str(member.serialization.get("name", name))
            if member.serialization.get("xmlAttribute"):
                element.set(xml_name, _text(member, item))
            elif isinstance(member, ListShape) and member.serialization.get("flattened"):
                for entry in item:
                    _fill(
                        member.member, entry, ET.SubElement(element, _member_xml_name(member, name))
                    )
            else:
                _fill(member, item, ET.SubElement(element, xml_name))
    elif isinstance(shape, ListShape):
        entry_name = str(shape.member.serialization.get("name", "member"))
        for entry in value:
            _fill(shape.member, entry, ET.SubElement(element, entry_name))
    elif isinstance(shape, MapShape):
        key_name = str(shape.key.serialization.get("name", "key"))
        value_name = str(shape.value.serialization.get("name", "value"))
        for key, item in value.items():
            entry = ET.SubElement(element, "entry")
            ET.SubElement(entry, key_name).text = str(key)
            _fill(shape.value, item, ET.SubElement(entry, value_name))
    else:
        element.text = _text(shape, value)


def _text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "iso8601")
        return str(format_timestamp(value, fmt))
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "blob":
        raw = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(raw).decode("ascii")
    return str(value)
