"""Timestamp formats of the AWS protocols."""

from __future__ import annotations

import datetime
from email.utils import format_datetime


def to_datetime(value: datetime.datetime | float | int) -> datetime.datetime:
    """``value`` as an aware UTC datetime (numbers are epoch seconds)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)
    return datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)


def format_timestamp(value: datetime.datetime | float | int, fmt: str) -> str | float:
    """Render ``value`` in an AWS ``timestampFormat``: iso8601, unixTimestamp or rfc822."""
    moment = to_datetime(value)
    if fmt == "unixTimestamp":
        return round(moment.timestamp(), 3)
    if fmt == "rfc822":
        return format_datetime(moment, usegmt=True)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso8601(text: str) -> datetime.datetime:
    """Parse an RFC 3339 / ISO 8601 date-time (``Z`` or an offset; naive means UTC)."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    return to_datetime(datetime.datetime.fromisoformat(cleaned))
