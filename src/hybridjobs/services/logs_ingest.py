"""Writes to the Logs surface: PutLogEvents (exactly once), CreateLogStream, CreateLogGroup.

An instance agent, running a job's instance on another machine, ships that instance's
output to the instance's stream with ``PutLogEvents``. Its ``sequenceToken`` is the
number of lines of the stream it has had accepted so far, in decimal (absent, like
``"0"``, for the first batch); the store keeps that count per (job, instance) and, in one
transaction, stores only lines it does not hold yet
(:meth:`~hybridjobs.store.base.JobStore.append_instance_lines`):

* a batch that starts at the count is stored; the answer's ``nextSequenceToken`` is the
  new count;
* a retry whose lines are all held stores nothing and answers
  ``DataAlreadyAcceptedException``, ``expectedSequenceToken`` the count;
* a retry with more lines than were held stores only the new tail and answers as a batch
  that started at the count;
* a batch that starts after the count (lines would be missing) stores nothing and answers
  ``InvalidSequenceTokenException``, ``expectedSequenceToken`` the count; a token that is
  no count does the same.

So a retry never doubles a line and a lost answer never loses one. (AWS now ignores
sequence tokens; hybridjobs keeps their old contract because the agent relies on it.)

A line's time is its event's ``timestamp``; ``Metrics - ...`` lines also become metric
points, parsed as the scheduler parses what the instances it runs print
(:func:`~hybridjobs.jobs.metrics.parse_metric_line`) and stored with the line. Batches
are checked as AWS checks them (at most 10,000 events in chronological order spanning at
most 24 hours, an event at most 1 MiB and a batch at most 1 MiB, each counting 26 bytes
per event on top of its UTF-8 message), but no event is rejected for its age: every line
counts towards the token, so none may be dropped, and the store keeps lines for as long
as it keeps the job. Lines are accepted whatever the job's status: the agent's last batch
may well land after the job has ended.

Streams exist from the moment their job starts (all instances at once), so
``CreateLogStream`` of such a stream succeeds, as it does on AWS for a stream that did not
exist yet (code that creates a stream and then puts to it works unchanged); other names
answer ``ResourceNotFoundException``. The one log group always exists:
``CreateLogGroup`` of it answers ``ResourceAlreadyExistsException``.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Sequence
from typing import Any

from hybridjobs.errors import ResourceNotFoundException, ServiceError
from hybridjobs.jobs.logstreams import LOG_GROUP
from hybridjobs.jobs.metrics import parse_metric_line
from hybridjobs.services.logs_streams import (
    InvalidParameterException,
    LogCatalog,
    Stream,
    from_millis,
    group_name,
    group_of,
    millis,
)
from hybridjobs.store.base import (
    AppendOutcome,
    AppendResult,
    InstanceLine,
    JobStore,
    MetricPoint,
    UnknownJob,
)
from hybridjobs.wire.messages import WireRequest

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
"""What CloudWatch counts for each event on top of its message's UTF-8 bytes."""
MAX_SPAN_MS = 24 * 60 * 60 * 1000
LATEST_TIMESTAMP_MS = millis(datetime.datetime.max.replace(tzinfo=datetime.UTC))
"""The last millisecond a stored line's time can hold (the end of year 9999)."""
_TOKEN = re.compile(r"[0-9]{1,19}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class DataAlreadyAcceptedException(ServiceError):
    """Every line of the batch is held already (a retry); ``expectedSequenceToken`` is
    the token of the next batch."""

    code = "DataAlreadyAcceptedException"
    status = 400
    sender_fault = True


class InvalidSequenceTokenException(ServiceError):
    """The token is no count, or one beyond what the stream holds; ``expectedSequenceToken``
    is the token of the next batch."""

    code = "InvalidSequenceTokenException"
    status = 400
    sender_fault = True


class ResourceAlreadyExistsException(ServiceError):
    """CreateLogGroup of the one log group, which always exists."""

    code = "ResourceAlreadyExistsException"
    status = 400
    sender_fault = True


class LogIngest:
    """The write operations of the Logs surface, over the job store."""

    def __init__(self, store: JobStore, catalog: LogCatalog) -> None:
        self.store = store
        self.catalog = catalog

    def put_log_events(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """Append a batch to a started job's instance stream exactly once (see the module
        docstring); answers ``nextSequenceToken``, the count of lines the stream holds."""
        group_of(params)
        stream = self.catalog.find(request.account_id, request.region, params["logStreamName"])
        events: list[dict[str, Any]] = params["logEvents"]
        check_batch(events)
        first_line = line_number(params.get("sequenceToken"))
        if first_line is None:
            held = self.store.accepted_instance_lines(stream.job.job_arn, stream.instance)
            raise _invalid_token(held)
        lines = [instance_line(stream.instance, event) for event in events]
        outcome = self._append(stream, first_line, lines)
        return {"nextSequenceToken": str(_accepted(outcome))}

    def _append(self, stream: Stream, first_line: int, lines: list[InstanceLine]) -> AppendOutcome:
        """The store's append; a job gone meanwhile is ResourceNotFoundException."""
        try:
            return self.store.append_instance_lines(
                stream.job.job_arn, stream.instance, first_line, lines
            )
        except UnknownJob as exc:
            raise ResourceNotFoundException("The specified log stream does not exist.") from exc

    def create_log_stream(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """Succeed for the stream of a started job's instance (it exists already, and is
        left as it is); ResourceNotFoundException for any other name."""
        group_of(params)
        name = params["logStreamName"]
        try:
            self.catalog.find(request.account_id, request.region, name)
        except ResourceNotFoundException as exc:
            raise ResourceNotFoundException(
                f"hybridjobs has a log stream for each instance of a started job, and "
                f"{name!r} is none of them; streams cannot be created otherwise."
            ) from exc
        return {}

    def create_log_group(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """``/aws/braket/jobs`` exists in every account: ResourceAlreadyExistsException;
        InvalidParameterException for any other group (there is no other)."""
        if group_name(params["logGroupName"]) == LOG_GROUP:
            raise ResourceAlreadyExistsException("The specified log group already exists.")
        raise InvalidParameterException(
            f"logGroupName: hybridjobs serves one log group, {LOG_GROUP}; "
            f"{params['logGroupName']!r} cannot be created."
        )


def line_number(token: str | None) -> int | None:
    """The count a ``sequenceToken`` carries (absent: 0); None when it is no count."""
    if token is None:
        return 0
    return int(token) if _TOKEN.fullmatch(token) else None


def _accepted(outcome: AppendOutcome) -> int:
    """The stream's line count after an APPENDED batch; the token errors otherwise."""
    held = outcome.accepted_lines
    if outcome.result is AppendResult.ALREADY_ACCEPTED:
        raise DataAlreadyAcceptedException(
            "The given batch of log events has already been accepted. The next batch can "
            f"be sent with sequenceToken: {held}",
            expectedSequenceToken=str(held),
        )
    if outcome.result is AppendResult.GAP:
        raise _invalid_token(held)
    return held


def _invalid_token(held: int) -> InvalidSequenceTokenException:
    """The error for a token that is no count or is past ``held``, the stream's count."""
    return InvalidSequenceTokenException(
        f"sequenceToken: the given sequenceToken is invalid. The next expected "
        f"sequenceToken is: {held}",
        expectedSequenceToken=str(held),
    )


# -- the batch ----------------------------------------------------------------------------


def check_batch(events: Sequence[dict[str, Any]]) -> None:
    """InvalidParameterException, naming the field, for a batch AWS refuses beyond the
    model's own constraints (1 to 10,000 events, non-empty messages, timestamps >= 0,
    checked before this): events out of chronological order, a batch spanning more than
    24 hours, a timestamp past year 9999, an event or a batch over 1 MiB."""
    _check_times(events)
    _check_span(events)
    _check_sizes(events)


def _check_times(events: Sequence[dict[str, Any]]) -> None:
    """Every timestamp storable (not past year 9999) and none before the one before it."""
    for index, event in enumerate(events):
        stamp = event["timestamp"]
        if stamp > LATEST_TIMESTAMP_MS:
            raise InvalidParameterException(
                f"logEvents[{index}].timestamp: {stamp} is past the end of year 9999."
            )
        if index and stamp < events[index - 1]["timestamp"]:
            raise InvalidParameterException(
                f"logEvents[{index}].timestamp: log events in a single PutLogEvents request "
                f"must be in chronological order; {stamp} is before "
                f"logEvents[{index - 1}].timestamp {events[index - 1]['timestamp']}."
            )


def _check_span(events: Sequence[dict[str, Any]]) -> None:
    """First to last event (in order by now) within 24 hours."""
    span = events[-1]["timestamp"] - events[0]["timestamp"] if events else 0
    if span > MAX_SPAN_MS:
        raise InvalidParameterException(
            f"logEvents: the batch of log events in a single PutLogEvents request cannot span "
            f"more than 24 hours; it spans {span} ms."
        )


def _check_sizes(events: Sequence[dict[str, Any]]) -> None:
    """Each event, and the batch, within 1 MiB as CloudWatch counts (26 bytes per event
    on top of its UTF-8 message)."""
    total = 0
    for index, event in enumerate(events):
        size = utf8_size(event["message"]) + EVENT_OVERHEAD_BYTES
        if size > MAX_EVENT_BYTES:
            raise InvalidParameterException(
                f"logEvents[{index}].message: log event too large: {size} bytes exceeds the "
                f"limit of {MAX_EVENT_BYTES}."
            )
        total += size
    if total > MAX_BATCH_BYTES:
        raise InvalidParameterException(
            f"logEvents: upload too large: {total} bytes exceeds the limit of {MAX_BATCH_BYTES}."
        )


def utf8_size(message: str) -> int:
    """The bytes of ``message`` in UTF-8 (a lone surrogate, which JSON allows, as 3)."""
    return len(message.encode("utf-8", "surrogatepass"))


def well_formed(message: str) -> str:
    """``message`` with each lone surrogate (JSON allows them, UTF-8 does not) as U+FFFD;
    JSON's surrogate pairs are single characters by now, so every surrogate is lone."""
    return _SURROGATE.sub("\ufffd", message)


def instance_line(instance: str, event: dict[str, Any]) -> InstanceLine:
    """An input event as a line of ``instance``, at the event's time, with its metrics."""
    stamp: int = event["timestamp"]
    message = well_formed(event["message"])
    return InstanceLine(from_millis(stamp), message, _metrics_of(message, instance, stamp / 1000))


def _metrics_of(message: str, instance: str, seconds: float) -> tuple[MetricPoint, ...]:
    """The metric points of a ``Metrics - ...`` line (none for any other); a line the
    parser chokes on is still a log line, as when the scheduler reads it."""
    try:
        return tuple(parse_metric_line(message, instance, seconds))
    except Exception:
        log.exception("%s: cannot read the metrics of a line", instance)
        return ()
