"""Search filters as SQL conditions, shared by the job and task searches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hybridjobs.store.base import JobFilter


def filter_condition(
    columns: Mapping[str, sa.ColumnElement[Any]], condition: JobFilter
) -> sa.ColumnElement[bool]:
    """``condition`` on ``columns[condition.field]``: time comparisons for ``created_at``
    (EQUAL to the millisecond the wire can express), substring for CONTAINS, else IN."""
    column = columns[condition.field]
    values = list(condition.values)
    if condition.field == "created_at":
        stamps = [v.timestamp() for v in values]
        operator = condition.operator
        if operator == "EQUAL":
            return sa.or_(*[sa.and_(column >= s, column < s + 0.001) for s in stamps])
        if operator == "BETWEEN":
            return column.between(min(stamps), max(stamps))
        comparisons = {
            "LT": column < stamps[0],
            "LTE": column <= stamps[0],
            "GT": column > stamps[0],
            "GTE": column >= stamps[0],
        }
        return comparisons[operator]  # type: ignore[no-any-return]
    if condition.operator == "CONTAINS":
        return sa.or_(*[column.contains(v, autoescape=True) for v in values])
    return column.in_(values)
