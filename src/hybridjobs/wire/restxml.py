"""The rest-xml protocol (S3): request parsing and response/error serialization.

Everything is driven by a botocore operation model, mirroring botocore's own
``RestXMLSerializer`` (which writes requests) and ``RestXMLParser`` (which reads
responses), so whatever boto3 sends parses here and whatever this module writes parses
in boto3:

* members located in the URI, the query string, a header or a header prefix map
  (``x-amz-meta-*``) come from there, read and written by
  :mod:`hybridjobs.wire.restbinding` (shared with rest-json); the payload member is the
  raw body when it is a blob, or an XML document when it is a structure; other members
  form an XML body;
* XML lists are wrapped (``<Buckets><Bucket>…``) unless the model marks them
  ``flattened``; element names come from ``locationName`` (botocore's ``name``);
* timestamps are ISO 8601 in XML bodies and RFC 1123 in headers unless the model gives
  a ``timestampFormat``; blobs in XML bodies are base64.

The model names no root element for output bodies, so callers pass the documented one
(S3: ``ListBucketResult`` …). Bad XML raises :class:`MalformedXmlError`; a header or query
value that does not convert to its member's type raises :class:`InvalidParameterError`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, NamedTuple

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from hybridjobs.wire import restbinding
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.shapes import (
    ShapeVisitor,
    is_flattened,
    location,
    present_members,
    wire_name,
)

XML_CONTENT_TYPE = "application/xml"
BODY_TIMESTAMP_FORMAT = "iso8601"
"""How XML bodies write timestamps whose shape names no ``timestampFormat``."""
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

    URI, query and header members come from :mod:`hybridjobs.wire.restbinding`; a value
    there that does not convert raises :class:`InvalidParameterError` naming every such
    member. Absent members are left out. A streaming or blob payload member receives the
    body as ``bytes`` (even when empty); a structure payload is parsed only when the body
    is not blank. Unknown query keys, headers and XML elements are ignored.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    assert isinstance(shape, StructureShape)
    bound = restbinding.read_request(operation, request, labels)
    if bound.problems:
        raise InvalidParameterError("; ".join(bound.problems))
    params = bound.params
    payload = shape.serialization.get("payload")
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
    return location(member) is None


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


class _XmlReader(ShapeVisitor[ET.Element, Any]):
    """The value of an XML element for its shape (botocore's ``RestXMLParser`` rules)."""

    def on_structure(self, shape: StructureShape, value: ET.Element) -> Any:
        children: dict[str, list[ET.Element]] = {}
        for child in value:
            children.setdefault(_tag(child), []).append(child)
        parsed: dict[str, Any] = {}
        for name, member in shape.members.items():
            if not _in_body(member):
                continue
            xml_name = _member_xml_name(member, name)
            if member.serialization.get("xmlAttribute"):
                if xml_name in value.attrib:
                    parsed[name] = value.attrib[xml_name]
                continue
            # botocore's serializer names a flattened list's elements after the member,
            # its parser after the list's member shape: accept either.
            found = children.get(xml_name) or children.get(wire_name(member, name))
            if not found:
                continue
            if isinstance(member, ListShape) and is_flattened(member):
                parsed[name] = [self.visit(member.member, item) for item in found]
            else:
                parsed[name] = self.visit(member, found[0])
        return parsed

    def on_list(self, shape: ListShape, value: ET.Element) -> Any:
        return [self.visit(shape.member, item) for item in value]

    def on_map(self, shape: MapShape, value: ET.Element) -> Any:
        key_name = wire_name(shape.key, "key")
        value_name = wire_name(shape.value, "value")
        entries = [value] if is_flattened(shape) else list(value)
        result: dict[str, Any] = {}
        for entry in entries:
            parts = {_tag(child): child for child in entry}
            if key_name in parts and value_name in parts:
                result[parts[key_name].text or ""] = self.visit(shape.value, parts[value_name])
        return result

    def on_scalar(self, shape: Shape, value: ET.Element) -> Any:
        text = value.text or ""
        if shape.type_name != "string":
            text = text.strip()
        try:
            return restbinding.from_text(shape, text, timestamp_format=BODY_TIMESTAMP_FORMAT)
        except restbinding.BindingError as exc:
            raise MalformedXmlError(f"{_tag(value)}: {exc}") from None


def _read(shape: Shape, element: ET.Element) -> Any:
    return _XmlReader().visit(shape, element)


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
        restbinding.write_headers(shape, output, headers)
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
    code = restbinding.response_status(operation, output, status)
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


def _document(shape: Shape, value: Any, root_name: str, namespace: str | None) -> bytes:
    root = ET.Element(root_name)
    if namespace:
        root.set("xmlns", namespace)
    _fill(shape, value, root)
    return _xml_bytes(root)


def _xml_bytes(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


class _Slot(NamedTuple):
    """A value and the element its XML goes into."""

    value: Any
    element: ET.Element


class _XmlFiller(ShapeVisitor[_Slot, None]):
    """Writes a value (of its shape) as the content of an element."""

    def on_structure(self, shape: StructureShape, value: _Slot) -> None:
        element = value.element
        for name, member, item in present_members(shape, value.value, body_only=True):
            xml_name = wire_name(member, name)
            if member.serialization.get("xmlAttribute"):
                element.set(xml_name, _text(member, item))
            elif isinstance(member, ListShape) and is_flattened(member):
                entry_name = _member_xml_name(member, name)
                for entry in item:
                    self.visit(member.member, _Slot(entry, ET.SubElement(element, entry_name)))
            else:
                self.visit(member, _Slot(item, ET.SubElement(element, xml_name)))

    def on_list(self, shape: ListShape, value: _Slot) -> None:
        entry_name = wire_name(shape.member, "member")
        for entry in value.value:
            self.visit(shape.member, _Slot(entry, ET.SubElement(value.element, entry_name)))

    def on_map(self, shape: MapShape, value: _Slot) -> None:
        key_name = wire_name(shape.key, "key")
        value_name = wire_name(shape.value, "value")
        for key, item in value.value.items():
            entry = ET.SubElement(value.element, "entry")
            ET.SubElement(entry, key_name).text = str(key)
            self.visit(shape.value, _Slot(item, ET.SubElement(entry, value_name)))

    def on_scalar(self, shape: Shape, value: _Slot) -> None:
        value.element.text = _text(shape, value.value)


def _fill(shape: Shape, value: Any, element: ET.Element) -> None:
    """Write ``value`` (of ``shape``) as the content of ``element``."""
    _XmlFiller().visit(shape, _Slot(value, element))


def _text(shape: Shape, value: Any) -> str:
    return restbinding.to_text(shape, value, timestamp_format=BODY_TIMESTAMP_FORMAT)
