"""Ship one instance's output to the service's CloudWatch Logs surface, exactly once.

The instance writes its stdout and stderr to a file; a :class:`LogShipper` reads the
complete lines appended since its last call (:class:`~hybridjobs.logtail.LogTail`) and
sends them with ``PutLogEvents`` in order, in batches. The ``sequenceToken`` of a batch
is the number of lines the stream has accepted before it: the service stores a batch
only when the token is exactly its count, answers ``DataAlreadyAcceptedException`` for a
batch it already holds (a retry whose answer was lost) and ``InvalidSequenceTokenException``
for one that would leave a gap, both with the count it expects. So a retry never doubles
a line and a lost answer never loses one. Metric lines (``Metrics - …``) travel as log
lines; the service parses them, as CloudWatch's metric filters do on AWS. Empty lines
are not sent (CloudWatch holds no empty event, and its agents drop them too).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from hybridjobs.logtail import LogTail

log = logging.getLogger(__name__)

BATCHES_PER_SECOND = 4
"""At most this many PutLogEvents calls a second per stream while the instance runs (what
CloudWatch allows a stream), so lines travel in batches; the last ones go at once."""
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
_EVENT_OVERHEAD = 26  # bytes CloudWatch counts per event on top of its UTF-8 message
_MAX_MESSAGE_BYTES = 256 * 1024 - _EVENT_OVERHEAD
_MAX_RETRY_SECONDS = 2.0
"""The longest wait between tries to reach the service (a restarted service gets the
lines that waited for it within this)."""
_TOKEN_ERRORS = ("DataAlreadyAcceptedException", "InvalidSequenceTokenException")


@dataclass(frozen=True)
class PendingLine:
    timestamp_ms: int
    message: str


class LogShipper:
    """Reads ``log_file`` and ships its lines to ``group``/``stream`` with ``client`` (a
    boto3 ``logs`` client); :meth:`ship` may be called as often as wanted."""

    def __init__(self, client: Any, group: str, stream: str, log_file: Path) -> None:
        self.client = client
        self.group = group
        self.stream = stream
        self.tail = LogTail(stream, log_file)
        self.accepted = 0
        """Lines of this stream the service holds (the next batch's sequence token)."""
        self._pending: deque[PendingLine] = deque()
        self._failures = 0
        self._retry_at = 0.0
        self._next_batch_at = 0.0

    def say(self, text: str) -> None:
        """Queue a line of the agent's own (``hybridjobs: …``) in the stream."""
        self._pending.append(PendingLine(_now_ms(), f"hybridjobs: {text}"))

    def ship(self, final: bool = False) -> bool:
        """Send everything read so far (with ``final``, the unterminated last line too).
        Returns whether every line is now with the service; on a failure to reach it the
        lines stay queued for the next call."""
        now = time.monotonic()
        if not final and now < self._next_batch_at:
            return not self._pending  # batch lines: at most BATCHES_PER_SECOND calls
        self._next_batch_at = now + 1.0 / BATCHES_PER_SECOND
        events, _metrics = self.tail.read(final=final)
        for event in events:
            if event.message:
                message = _clip(event.message)
                self._pending.append(PendingLine(int(event.timestamp.timestamp() * 1000), message))
        if self._pending and now < self._retry_at:
            return False
        while self._pending:
            batch = self._next_batch()
            try:
                self._put(batch)
            except ParamValidationError:
                log.exception("%s: %d lines cannot be sent; dropped", self.stream, len(batch))
                self._drop(len(batch))
            except Exception:
                self._failures += 1
                self._retry_at = time.monotonic() + min(_MAX_RETRY_SECONDS, 0.1 * 2**self._failures)
                log.warning("%s: cannot ship log lines yet", self.stream, exc_info=True)
                return False
            else:
                self._failures = 0
        return True

    def _next_batch(self) -> list[PendingLine]:
        batch: list[PendingLine] = []
        size = 0
        for line in self._pending:
            cost = len(line.message.encode()) + _EVENT_OVERHEAD
            if batch and (len(batch) == MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES):
                break
            batch.append(line)
            size += cost
        return batch

    def _put(self, batch: list[PendingLine]) -> None:
        """Send ``batch`` (the head of the queue) under the current token; on success or a
        token answer, drop what the service holds from the queue."""
        request: dict[str, Any] = {
            "logGroupName": self.group,
            "logStreamName": self.stream,
            "logEvents": [{"timestamp": ln.timestamp_ms, "message": ln.message} for ln in batch],
            "sequenceToken": str(self.accepted),
        }
        try:
            answer = self.client.put_log_events(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _TOKEN_ERRORS:
                raise
            # botocore puts an error's modelled members beside "Error" in the response.
            expected = exc.response.get("expectedSequenceToken")
            self._resync(int(expected or 0), len(batch))
            return
        self._drop(len(batch))
        self.accepted = int(answer.get("nextSequenceToken") or self.accepted + len(batch))

    def _resync(self, expected: int, sent: int) -> None:
        """The service holds ``expected`` lines: drop the part of the queue it already has
        (a retry), or, if it holds fewer than we believed, say so (lines were lost
        before this agent could resend them)."""
        if expected >= self.accepted:
            self._drop(min(sent, expected - self.accepted))
        else:
            log.error(
                "%s: the service holds %d lines, %d were shipped",
                self.stream,
                expected,
                self.accepted,
            )
        self.accepted = expected

    def _drop(self, count: int) -> None:
        for _ in range(count):
            self._pending.popleft()


def _clip(message: str) -> str:
    """A line CloudWatch can hold (256 KiB with its overhead); longer ones are cut."""
    data = message.encode()
    if len(data) <= _MAX_MESSAGE_BYTES:
        return message
    return data[:_MAX_MESSAGE_BYTES].decode(errors="ignore")


def _now_ms() -> int:
    return int(time.time() * 1000)
