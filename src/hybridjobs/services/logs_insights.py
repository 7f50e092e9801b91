"""The subset of CloudWatch Logs Insights query language hybridjobs answers.

Enough for what the Braket SDK sends for ``job.metrics()`` (spec §3.7)::

    fields @timestamp, @message | filter @logStream like /^<name>\\/<uuid>\\// |
    filter @message like /Metrics - /

and for hand-written queries of the same shape. Commands, separated by ``|``:

- ``fields f1, f2, ...`` with ``@timestamp``, ``@message``, ``@logStream``, ``@log``,
  ``@ingestionTime``;
- ``filter <field> like /regex/`` (or ``=~ /regex/``, or ``like "substring"``), on
  ``@message`` or ``@logStream``; several filters must all hold;
- ``sort @timestamp asc|desc`` (default: newest first, as Insights does);
- ``limit <n>``.

Anything else raises MalformedQueryException naming the part it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hybridjobs.errors import ServiceError

FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")
FILTERABLE = ("@message", "@logStream")
_REGEX_SPECIALS = set(".^$*+?()[]{}|\\")
_QUANTIFIERS = set("*?{")

_FIELDS = re.compile(r"fields\s+(?P<names>.+)", re.DOTALL)
_FILTER = re.compile(
    r"filter\s+(?P<field>@?\w+)\s+(?P<op>like|=~)\s+"
    r"(?P<pattern>/(?:\\.|[^/\\])*/|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*')",
    re.DOTALL,
)
_SORT = re.compile(r"sort\s+(?P<field>@?\w+)(?:\s+(?P<order>asc|desc))?", re.IGNORECASE)
_LIMIT = re.compile(r"limit\s+(?P<n>\d+)")


class MalformedQueryException(ServiceError):
    code = "MalformedQueryException"
    status = 400
    sender_fault = True


@dataclass(frozen=True)
class Match:
    """One filter: ``pattern`` must be found in the field. ``literal`` is the exact
    substring the pattern amounts to when it has no regex operators (for pushdown)."""

    field: str
    pattern: re.Pattern[str]
    literal: str | None


@dataclass
class Query:
    """A parsed query."""

    fields: list[str] = field(default_factory=lambda: ["@timestamp", "@message"])
    filters: list[Match] = field(default_factory=list)
    newest_first: bool = True
    limit: int | None = None

    def filters_on(self, name: str) -> list[Match]:
        return [f for f in self.filters if f.field == name]

    @property
    def stream_prefix(self) -> str:
        """The literal text every matching stream name must start with ("" if none)."""
        prefixes = [anchored_prefix(f.pattern.pattern) for f in self.filters_on("@logStream")]
        return max(prefixes, key=len, default="")


def split_commands(text: str) -> list[str]:
    """The ``|``-separated commands, ignoring ``|`` inside /regex/ and quoted strings."""
    commands: list[str] = []
    current: list[str] = []
    closer: str | None = None
    escaped = False
    for char in text:
        if closer is not None:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == closer:
                closer = None
            continue
        if char == "|":
            commands.append("".join(current).strip())
            current = []
            continue
        if char in "/\"'":
            closer = char
        current.append(char)
    if closer is not None:
        raise MalformedQueryException(f"Unterminated {closer}...{closer} in the query.")
    commands.append("".join(current).strip())
    return commands


def literal_of(regex: str) -> str | None:
    """The text ``regex`` matches literally when it has no operators (``\\/`` is ``/``)."""
    out: list[str] = []
    chars = iter(regex)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            if not following or following.isalnum():
                return None
            out.append(following)
        elif char in _REGEX_SPECIALS:
            return None
        else:
            out.append(char)
    return "".join(out)


def anchored_prefix(regex: str) -> str:
    """The literal text a ``^``-anchored ``regex`` requires at the start ("" if none)."""
    if not regex.startswith("^"):
        return ""
    out: list[str] = []
    index = 1
    while index < len(regex):
        char = regex[index]
        if char == "\\" and index + 1 < len(regex) and not regex[index + 1].isalnum():
            out.append(regex[index + 1])
            index += 2
            continue
        if char in _REGEX_SPECIALS:
            if char in _QUANTIFIERS and out:
                out.pop()  # the character before ``*``, ``?`` or ``{`` is optional
            break
        out.append(char)
        index += 1
    return "".join(out)


def _compile(field_name: str, pattern: str) -> Match:
    body = pattern[1:-1]
    if pattern[0] in "\"'":
        text = re.sub(r"\\(.)", r"\1", body)
        return Match(field_name, re.compile(re.escape(text)), text)
    try:
        compiled = re.compile(body)
    except re.error as exc:
        raise MalformedQueryException(f"Invalid regular expression /{body}/: {exc}") from exc
    return Match(field_name, compiled, literal_of(body))


def parse_query(text: str) -> Query:
    """Parse ``text``; MalformedQueryException for anything outside the subset above."""
    query = Query()
    for command in split_commands(text):
        if not command:
            raise MalformedQueryException("Empty command in the query (a stray '|'?).")
        if match := _FIELDS.fullmatch(command):
            names = [name.strip() for name in match["names"].split(",")]
            unknown = [name for name in names if name not in FIELDS]
            if unknown:
                raise MalformedQueryException(
                    f"hybridjobs supports only the fields {', '.join(FIELDS)}; got {unknown}."
                )
            query.fields = names
        elif match := _FILTER.fullmatch(command):
            if match["field"] not in FILTERABLE:
                raise MalformedQueryException(
                    f"hybridjobs filters only on {' and '.join(FILTERABLE)}; got {match['field']}."
                )
            query.filters.append(_compile(match["field"], match["pattern"]))
        elif match := _SORT.fullmatch(command):
            if match["field"] != "@timestamp":
                raise MalformedQueryException("hybridjobs sorts only by @timestamp.")
            query.newest_first = (match["order"] or "desc").lower() == "desc"
        elif match := _LIMIT.fullmatch(command):
            query.limit = int(match["n"])
        else:
            raise MalformedQueryException(
                f"hybridjobs cannot run the query command {command!r}: it supports fields, "
                "filter <@message|@logStream> like /regex/, sort @timestamp and limit."
            )
    return query
