"""The one walk over botocore shapes that every protocol codec shares.

A codec reads or writes a value shaped by the model (a JSON document, a flat form, an
XML tree). :class:`ShapeVisitor` holds the walk: it dispatches on the shape's kind
(structure, list, map, scalar) and hands each kind to one method, and
:func:`present_members` yields a structure's members that carry a value, with their wire
names; the codecs supply only what a kind looks like on their wire. The rules botocore
applies to every protocol (a member's wire name is its ``locationName``, a member with a
``location`` lives outside the body, lists and maps may be ``flattened``) are written
here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from botocore.model import ListShape, MapShape, Shape, StructureShape

V = TypeVar("V")
R = TypeVar("R")


class ShapeVisitor(ABC, Generic[V, R]):
    """Walks ``shape`` together with ``value`` (of type ``V``), producing an ``R``.

    :meth:`visit` is the only dispatch on a shape's kind; subclasses implement the four
    kinds and call :meth:`visit` for nested shapes.
    """

    def visit(self, shape: Shape, value: V) -> R:
        """Hand ``value`` to the method for ``shape``'s kind."""
        if isinstance(shape, StructureShape):
            return self.on_structure(shape, value)
        if isinstance(shape, ListShape):
            return self.on_list(shape, value)
        if isinstance(shape, MapShape):
            return self.on_map(shape, value)
        return self.on_scalar(shape, value)

    @abstractmethod
    def on_structure(self, shape: StructureShape, value: V) -> R: ...

    @abstractmethod
    def on_list(self, shape: ListShape, value: V) -> R: ...

    @abstractmethod
    def on_map(self, shape: MapShape, value: V) -> R: ...

    @abstractmethod
    def on_scalar(self, shape: Shape, value: V) -> R: ...


def wire_name(member: Shape, name: str) -> str:
    """The name ``member`` (called ``name`` in its structure) has on the wire."""
    return str(member.serialization.get("name", name))


def location(member: Shape) -> str | None:
    """Where a member travels outside the body (``uri``, ``querystring``, ``header``,
    ``headers``, ``statusCode``), or ``None`` for a body member."""
    located = member.serialization.get("location")
    return None if located is None else str(located)


def is_flattened(shape: Shape) -> bool:
    """Whether a list's items (or a map's entries) sit directly in the parent element."""
    return bool(shape.serialization.get("flattened"))


def present_members(
    shape: StructureShape, value: Any, *, body_only: bool = False
) -> Iterator[tuple[str, Shape, Any]]:
    """``(member name, member shape, member value)`` for each member of ``shape`` that
    ``value`` (a dict keyed by member names) holds a non-``None`` value for, in model
    order; with ``body_only``, members with a ``location`` are left out."""
    for name, member in shape.members.items():
        member_value = value.get(name) if isinstance(value, dict) else None
        if member_value is None or (body_only and location(member) is not None):
            continue
        yield name, member, member_value
