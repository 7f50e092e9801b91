"""Terminal output: colours, tables, durations, event timelines, and a transient status line.

Colour is used only when the stream is a TTY, ``NO_COLOR`` is unset and ``TERM`` is not
``dumb`` (or when ``--color always`` forces it). Everything here is plain text otherwise,
so output piped to a file or a test is stable.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}
INSTANCE_COLOURS = ("cyan", "magenta", "yellow", "blue", "green")
STATUS_COLOURS = {
    "QUEUED": "yellow",
    "RUNNING": "blue",
    "CANCELLING": "magenta",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def colour_wanted(stream: TextIO, choice: str = "auto") -> bool:
    """Whether to colour ``stream`` for ``--color auto|always|never``."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class Style:
    """Wraps text in ANSI codes when enabled; a no-op otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def status(self, status: str) -> str:
        return self(status, "bold", STATUS_COLOURS.get(status, "bold"))

    def instance(self, label: str) -> str:
        """``algo-N`` in the N-th instance colour (the SDK colours streams the same way)."""
        index = int(label.rsplit("-", 1)[-1]) - 1 if label[-1:].isdigit() else 0
        return self(label, INSTANCE_COLOURS[index % len(INSTANCE_COLOURS)])


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    all_rows = [list(headers), *[list(r) for r in rows]]
    widths = [max(visible_len(r[i]) for r in all_rows) for i in range(len(headers))]
    lines = []
    for row in all_rows:
        cells = [
            cell + " " * (widths[i] - visible_len(cell)) if i < len(row) - 1 else cell
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """``0.8s``, ``42.1s``, ``3m04s``, ``2h05m``, ``5d00h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def local_time(moment: datetime.datetime | None, with_date: bool = True) -> str:
    """A timestamp in the local time zone (``-`` when absent)."""
    if moment is None:
        return "-"
    value = moment.astimezone()
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def job_duration(job: Mapping[str, Any], now: datetime.datetime | None = None) -> float | None:
    """Seconds from ``startedAt`` to ``endedAt`` (or to now while the job runs)."""
    started: datetime.datetime | None = job.get("startedAt")
    if started is None:
        return None
    ended: datetime.datetime = job.get("endedAt") or now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (ended - started).total_seconds())


def event_line(style: Style, event: Mapping[str, Any], origin: datetime.datetime | None) -> str:
    """One timeline entry: local time, offset from ``origin``, type and message."""
    moment: datetime.datetime | None = event.get("timeOfEvent")
    offset = ""
    if moment is not None and origin is not None:
        offset = f"+{(moment - origin).total_seconds():7.2f}s"
    kind = str(event.get("eventType", "?"))
    colour = STATUS_COLOURS.get(kind, "bold")
    message = str(event.get("message", ""))
    return f"{local_time(moment, with_date=False)} {style(offset, 'dim')}  " + (
        f"{style(f'{kind:<21}', 'bold', colour)} {message}".rstrip()
    )


def to_jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO-8601 strings (for ``--json`` output)."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


class Output:
    """Line output with an optional transient status line (spinner) on a TTY.

    ``line`` prints a permanent line (erasing the status line first); ``status`` redraws
    the status line in place, and does nothing when the stream is not a TTY.
    """

    def __init__(self, stream: TextIO | None = None, colour: str = "auto") -> None:
        self.stream = stream or sys.stdout
        self.style = Style(colour_wanted(self.stream, colour))
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._status_shown = False
        self._tick = 0

    def line(self, text: str = "") -> None:
        self.clear_status()
        self.stream.write(text + "\n")
        self.stream.flush()

    def status(self, text: str) -> None:
        if not self.interactive:
            return
        self._tick += 1
        frame = SPINNER[self._tick % len(SPINNER)]
        self.stream.write(f"\r\x1b[2K{self.style(frame, 'cyan')} {text}")
        self.stream.flush()
        self._status_shown = True

    def clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False
