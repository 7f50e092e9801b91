"""Validate request parameters against every constraint of a botocore input shape.

botocore's own ParamValidator checks only required members, types and ``min``; the
server must also check ``max``, ``pattern`` (full match) and ``enum`` (spec §1.1), so this
module walks the shape itself and reports every problem, each naming its field.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

EnumLookup = Callable[[Shape], tuple[str, ...]]


@cache
def _full_match(pattern: str) -> Callable[[str], object]:
    """The full-match test of a model pattern. botocore's patterns are Java regular
    expressions: Unicode classes (``\\p{L}``) and ranges such as ``[\\w-_]`` need the
    ``regex`` module, used when ``re`` cannot compile one (else such a value was a 500)."""
    try:
        return re.compile(pattern).fullmatch
    except re.error:
        import regex

        compiled: Any = regex.compile(pattern)
        test: Callable[[str], object] = compiled.fullmatch
        return test


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Validator:
    def __init__(self, enum_values: EnumLookup) -> None:
        self.enum_values = enum_values
        self.problems: list[str] = []

    def fail(self, path: str, why: str) -> None:
        self.problems.append(f"{path or 'request'}: {why}")

    def check(self, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        checker = getattr(self, f"_check_{kind}", None)
        if checker is not None:
            checker(shape, value, path)

    def _check_structure(self, shape: Shape, value: Any, path: str) -> None:
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {_describe(value)}")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(_join(path, name), "is required")
        for name, member_value in value.items():
            member = shape.members.get(name)
            # Unknown members are ignored, as AWS services do, so newer clients keep working.
            if member is None:
                continue
            if member_value is None:
                if name not in shape.required_members:  # those are "required" already
                    self.fail(_join(path, name), "is null; leave the member out instead")
                continue
            self.check(member, member_value, _join(path, name))

    def _check_list(self, shape: Shape, value: Any, path: str) -> None:
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            self.fail(path, f"must be a list, got {_describe(value)}")
            return
        self._check_length(shape, len(value), path, "items")
        for index, item in enumerate(value):
            self.check(shape.member, item, f"{path}[{index}]")

    def _check_map(self, shape: Shape, value: Any, path: str) -> None:
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            self.fail(path, f"must be a map, got {_describe(value)}")
            return
        self._check_length(shape, len(value), path, "entries")
        for key, item in value.items():
            self.check(shape.key, key, f"{path} key {_describe(key)}")
            self.check(shape.value, item, f"{path}[{key!r}]")

    def _check_string(self, shape: Shape, value: Any, path: str) -> None:
        if shape.serialization.get("jsonvalue") and shape.serialization.get("location") == "header":
            return  # a header's JSON value (any JSON), not a string: see wire/restbinding.py
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_describe(value)}")
            return
        self._check_length(shape, len(value), path, "characters")
        enum = self.enum_values(shape)
        if enum and value not in enum:
            self.fail(path, f"{_describe(value)} is not one of: {', '.join(enum)}")
        pattern = shape.metadata.get("pattern")
        if pattern is not None and _full_match(pattern)(value) is None:
            self.fail(path, f"{_describe(value)} does not match the pattern {pattern}")

    def _check_integer(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be an integer, got {_describe(value)}")
            return
        self._check_range(shape, value, path)

    _check_long = _check_integer

    def _check_double(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(path, f"must be a number, got {_describe(value)}")
            return
        self._check_range(shape, value, path)

    _check_float = _check_double

    def _check_boolean(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {_describe(value)}")

    def _check_timestamp(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, (datetime.datetime, int, float)) or isinstance(value, bool):
            self.fail(path, f"must be a timestamp, got {_describe(value)}")

    def _check_blob(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, (bytes, bytearray, str)):
            self.fail(path, f"must be binary data, got {_describe(value)}")

    def _check_length(self, shape: Shape, length: int, path: str, unit: str) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and length < low:
            self.fail(path, f"must have at least {low} {unit}, got {length}")
        if high is not None and length > high:
            self.fail(path, f"must have at most {high} {unit}, got {length}")

    def _check_range(self, shape: Shape, value: float, path: str) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(path, f"must be at least {low}, got {value}")
        if high is not None and value > high:
            self.fail(path, f"must be at most {high}, got {value}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate(shape: Shape | None, params: dict[str, Any], enum_values: EnumLookup) -> list[str]:
    """Every constraint ``params`` breaks, as ``"<field path>: <why>"`` strings.

    ``enum_values`` gives the accepted values of a string shape (the model's enum plus any
    extras the service accepts). An empty list means the parameters are valid.
    """
    if shape is None:
        return []
    validator = _Validator(enum_values)
    validator.check(shape, params, "")
    return validator.problems
