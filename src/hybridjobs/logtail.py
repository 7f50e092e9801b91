"""Ship instance output to the store: log lines, and the metrics in ``Metrics -`` lines.

Each instance writes its stdout and stderr, unbuffered, to its own file. A
:class:`LogTail` reads what was appended since the last call, keeps a partial last line
for later, stamps each complete line with the time it was read, and parses
``Metrics - timestamp=<t>; <name>=<value>; [iteration_number=<n>;]`` lines (what
``braket.jobs.metrics.log_metric`` prints) into metric points.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from hybridjobs.jobs.metrics import parse_metric_line
from hybridjobs.jobs.model import utcnow
from hybridjobs.store.base import LogEvent, MetricPoint

logger = logging.getLogger(__name__)
_METRIC_PAIR = re.compile(r"(\w+)\s*=\s*([^;]+)\s*;")
_NODE_TAG = re.compile(r"^\[([^\]]*)\]")
_MAX_LINE = 256 * 1024
_READ_CHUNK = 4 * 1024 * 1024


@dataclass
class LogTail:
    """Incremental reader of one instance's log file."""

    instance: str
    path: Path
    offset: int = 0
    _partial: bytes = field(default=b"", repr=False)

    def read(self, final: bool = False) -> tuple[list[LogEvent], list[MetricPoint]]:
        """New complete lines since the last call and the metrics they carry: at most
        one chunk (4 MiB) of the file per call, split only at line ends. With ``final``
        (the instance has ended), everything up to the end of the file, the partial last
        line included."""
        data = self._read_to_end() if final else self._read_chunk()
        self.offset += len(data)
        buffer = self._partial + data
        lines = buffer.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > _MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        now = utcnow()
        seen_at = time.time()
        events: list[LogEvent] = []
        metrics: list[MetricPoint] = []
        for raw in lines:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            events.append(LogEvent(self.instance, now, text))
            try:  # a line the parser chokes on is still a log line; metrics never fail a job
                metrics.extend(parse_metric_line(text, self.instance, seen_at))
            except Exception:
                logger.exception("%s: cannot read the metrics of a line", self.instance)
        return events, metrics

    def _read_chunk(self) -> bytes:
        try:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                return log.read(_READ_CHUNK)
        except FileNotFoundError:
            return b""

    def _read_to_end(self) -> bytes:
        try:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                return log.read()
        except FileNotFoundError:
            return b""

    @property
    def partial(self) -> bytes:
        """The unterminated last line read so far (shipped once its newline comes)."""
        return self._partial

    def rewind(self, offset: int, partial: bytes) -> None:
        """Go back to a position read before (``offset`` and ``partial`` as they were), so
        lines that could not be stored are read again."""
        self.offset, self._partial = offset, partial

    @property
    def consumed(self) -> int:
        """Bytes of the file fully shipped (complete lines); where a restart resumes."""
        return self.offset - len(self._partial)
