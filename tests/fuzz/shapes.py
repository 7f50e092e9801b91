"""Hypothesis strategies generated from botocore shapes.

Values always have the shape's *type* (so botocore can serialize them with parameter
validation off) but not necessarily its *constraints*: strings run from empty to past
their maximum, hold NUL, path-like and non-ASCII characters, or are one of the enum's
values; numbers run past their ranges (up to 2**63); lists and maps may be empty or longer
than allowed; optional members come and go, and required ones are sometimes left out.
"""

from __future__ import annotations

import datetime
from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st

_MAX_DEPTH = 5
_NASTY_STRINGS = (
    "",
    "\x00",
    "..",
    "../../etc/passwd",
    "a" * 300,
    "/" * 10,
    "%2F",
    "💥",
    "\ud7ff",
    " ",
    "arn:aws:braket:us-west-2:000000000000:job/x",
    "s3://b/k",
    "null",
    "[" * 50,
)


def strategy_for(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for ``shape`` (see the module docstring)."""
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, depth)
    if kind == "list":
        member = strategy_for(shape.member, depth + 1)
        return st.lists(member, max_size=0 if depth >= _MAX_DEPTH else 3)
    if kind == "map":
        key = strategy_for(shape.key, depth + 1)
        value = strategy_for(shape.value, depth + 1)
        return st.dictionaries(key, value, max_size=0 if depth >= _MAX_DEPTH else 3)
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return st.one_of(
            st.integers(min_value=-5, max_value=200),
            st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63)]),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
        )
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(
            min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2200, 1, 1)
        ).map(lambda moment: moment.replace(tzinfo=datetime.UTC))
    if kind == "blob":
        return st.binary(max_size=64)
    return st.none()


def _string(shape: Shape) -> st.SearchStrategy[str]:
    options: list[st.SearchStrategy[str]] = [
        st.text(max_size=20),
        st.sampled_from(_NASTY_STRINGS),
        st.text(alphabet="abc-_./0123456789", min_size=1, max_size=40),
    ]
    if shape.enum:
        options.insert(0, st.sampled_from(list(shape.enum)))
    maximum = shape.metadata.get("max")
    if isinstance(maximum, int) and maximum < 5000:
        options.append(st.just("x" * (maximum + 1)))
    return st.one_of(options)


def _structure(shape: Shape, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    members = shape.members
    if depth >= _MAX_DEPTH:
        return st.just({})
    required = set(shape.required_members)
    fixed = {
        name: strategy_for(member, depth + 1)
        for name, member in members.items()
        if name in required
    }
    optional = {
        name: strategy_for(member, depth + 1)
        for name, member in members.items()
        if name not in required
    }
    complete = st.fixed_dictionaries(fixed, optional=optional)
    if not required:
        return complete
    # Now and then a required member is missing.
    partial = st.fixed_dictionaries({}, optional={**fixed, **optional})
    return st.one_of(complete, complete, complete, partial)
