"""The CloudWatch Logs surface (json 1.1, ``Logs_20140328``): job output as log streams.

Reads the lines the scheduler ships to the store and those instance agents ship with
PutLogEvents (exactly once, as :mod:`~hybridjobs.services.logs_ingest` describes);
streams are named and found as :mod:`~hybridjobs.services.logs_streams` describes, and
Insights queries run as :mod:`~hybridjobs.services.logs_queries` describes.

GetLogEvents tokens are ``f/<sequence>`` (lines after it) and ``b/<sequence>`` (lines
before it); a page with no new lines returns the token it was given, which is how the
SDK's follow loop ends (spec §7.9). This relies on one writer per stream (the scheduler's
supervisor, or PutLogEvents, whose appends to one stream the store runs one after the
other), so a stream's sequences become visible in order.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from hybridjobs.errors import ResourceNotFoundException
from hybridjobs.jobs.logstreams import LOG_GROUP
from hybridjobs.services.logs_ingest import LogIngest
from hybridjobs.services.logs_queries import InsightsQueries
from hybridjobs.services.logs_streams import (
    MAX_EVENTS,
    InvalidParameterException,
    LogCatalog,
    Stream,
    decode_token,
    encode_token,
    from_millis,
    group_name,
    group_of,
    millis,
    output_event,
)
from hybridjobs.store.base import JobStore, LogEvent, LogStreamSummary
from hybridjobs.wire.jsonrpc import JsonProtocolService
from hybridjobs.wire.messages import WireRequest

DEFAULT_STREAM_PAGE = 50

__all__ = ["LOG_GROUP", "LogsService"]


class LogsService(JsonProtocolService):
    """CloudWatch Logs on the shared port, over the job store."""

    def __init__(self, store: JobStore) -> None:
        catalog = LogCatalog(store)
        queries = InsightsQueries(store, catalog)
        ingest = LogIngest(store, catalog)
        super().__init__(
            "logs",
            {
                "DescribeLogGroups": self.describe_log_groups,
                "DescribeLogStreams": self.describe_log_streams,
                "GetLogEvents": self.get_log_events,
                "FilterLogEvents": self.filter_log_events,
                "StartQuery": queries.start_query,
                "GetQueryResults": queries.get_query_results,
                "StopQuery": queries.stop_query,
                "PutLogEvents": ingest.put_log_events,
                "CreateLogStream": ingest.create_log_stream,
                "CreateLogGroup": ingest.create_log_group,
            },
            invalid_parameter=InvalidParameterException,
        )
        self.store = store
        self.catalog = catalog
        self.queries = queries
        self.ingest = ingest
        self.started_ms = int(time.time() * 1000)
        self._group_created: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def group_creation_time(self, account: str, region: str) -> int:
        """When the account's log group came to be, in epoch milliseconds: the creation
        time of its first job in ``region`` (its streams start no earlier), else, while
        it has none, the time this service started. Remembered once a job exists, since
        jobs are never deleted."""
        with self._lock:
            known = self._group_created.get((account, region))
        if known is not None:
            return known
        first = self.catalog.first_job(account, region)
        if first is None:
            return self.started_ms
        created = millis(first.created_at)
        with self._lock:
            self._group_created[(account, region)] = created
        return created

    # -- groups and streams ---------------------------------------------------------------

    def describe_log_groups(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """The one group, when it matches ``logGroupNamePrefix`` / ``logGroupNamePattern``."""
        prefix = params.get("logGroupNamePrefix", "")
        pattern = params.get("logGroupNamePattern", "")
        wanted = params.get("logGroupIdentifiers")
        shown = LOG_GROUP.startswith(prefix) and pattern.lower() in LOG_GROUP.lower()
        if wanted is not None:
            shown = shown and any(group_name(w) == LOG_GROUP for w in wanted)
        arn = f"arn:aws:logs:{request.region}:{request.account_id}:log-group:{LOG_GROUP}"
        group = {
            "logGroupName": LOG_GROUP,
            "creationTime": self.group_creation_time(request.account_id, request.region),
            "metricFilterCount": 0,
            "arn": f"{arn}:*",
            "logGroupArn": arn,
            "storedBytes": 0,
            "logGroupClass": "STANDARD",
        }
        return {"logGroups": [group] if shown else []}

    def describe_log_streams(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """The streams of started jobs whose names start with ``logStreamNamePrefix``,
        ordered by name or last event time, ``limit`` (default 50) per page."""
        group_of(params)
        prefix = params.get("logStreamNamePrefix", "")
        order = params.get("orderBy", "LogStreamName")
        if order == "LastEventTime" and prefix:
            raise InvalidParameterException(
                "Cannot order by LastEventTime with a logStreamNamePrefix."
            )
        streams = self.catalog.matching(request.account_id, request.region, prefix)
        summaries: dict[str, dict[str, LogStreamSummary]] = {}
        for stream in streams:
            if stream.job.job_arn not in summaries:
                summaries[stream.job.job_arn] = self.store.summarize_log_events(stream.job.job_arn)
        entries = [
            self._describe(request, s, summaries[s.job.job_arn].get(s.instance)) for s in streams
        ]
        if order == "LastEventTime":
            entries.sort(key=lambda e: (e.get("lastEventTimestamp", 0), e["logStreamName"]))
        if params.get("descending", False):
            entries.reverse()
        start = 0
        if "nextToken" in params:
            start = int(decode_token(params["nextToken"], "streams").get("offset", 0))
        limit = params.get("limit", DEFAULT_STREAM_PAGE)
        page = entries[start : start + limit]
        output: dict[str, Any] = {"logStreams": page}
        if start + limit < len(entries):
            output["nextToken"] = encode_token({"kind": "streams", "offset": start + limit})
        return output

    @staticmethod
    def _describe(
        request: WireRequest, stream: Stream, summary: LogStreamSummary | None
    ) -> dict[str, Any]:
        assert stream.job.started_at is not None
        entry: dict[str, Any] = {
            "logStreamName": stream.name,
            "creationTime": millis(stream.job.started_at),
            "arn": f"arn:aws:logs:{request.region}:{request.account_id}:log-group:"
            f"{LOG_GROUP}:log-stream:{stream.name}",
            "storedBytes": 0,
        }
        if summary is not None:
            entry["firstEventTimestamp"] = millis(summary.first_timestamp)
            entry["lastEventTimestamp"] = millis(summary.last_timestamp)
            entry["lastIngestionTime"] = millis(summary.last_timestamp)
        return entry

    # -- events ---------------------------------------------------------------------------

    def get_log_events(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """One page of a stream's events within [startTime, endTime) (epoch ms).

        Without a token, ``startFromHead`` (default false) picks the first or the last
        ``limit`` events. ``f/<n>`` continues after sequence n, ``b/<n>`` before it.
        """
        group_of(params)
        stream = self.catalog.find(request.account_id, request.region, params["logStreamName"])
        limit = params.get("limit", MAX_EVENTS)
        window = self._window(params)
        token = params.get("nextToken")
        forward, position = self._position(token, params.get("startFromHead", False))
        query: dict[str, Any] = {"limit": limit, **window}
        if forward:
            events = self.store.list_log_events(
                stream.job.job_arn, stream.instance, after_sequence=position or 0, **query
            )
        else:
            events = self.store.list_log_events(
                stream.job.job_arn,
                stream.instance,
                before_sequence=position,
                newest_first=True,
                **query,
            )
            events.reverse()
        if events:
            next_forward = f"f/{events[-1].sequence}"
            next_backward = f"b/{events[0].sequence}"
        elif token is not None:
            # Nothing new: hand back the same token (the SDK stops on an empty page).
            next_forward = token if forward else f"f/{max((position or 1) - 1, 0)}"
            next_backward = token if not forward else f"b/{(position or 0) + 1}"
        else:
            last = self.store.summarize_log_events(stream.job.job_arn).get(stream.instance)
            end = last.last_sequence if last is not None and not forward else 0
            next_forward, next_backward = f"f/{end}", f"b/{end + 1}"
        return {
            "events": [output_event(e) for e in events],
            "nextForwardToken": next_forward,
            "nextBackwardToken": next_backward,
        }

    @staticmethod
    def _position(token: str | None, start_from_head: bool) -> tuple[bool, int | None]:
        """(forward?, sequence) for a GetLogEvents token; no token: from the head or tail."""
        if token is None:
            return (True, 0) if start_from_head else (False, None)
        match = re.fullmatch(r"([fb])/(\d+)", token)
        if match is None:
            raise InvalidParameterException("The specified nextToken is invalid.")
        return match[1] == "f", int(match[2])

    @staticmethod
    def _window(params: dict[str, Any]) -> dict[str, Any]:
        window: dict[str, Any] = {}
        if params.get("startTime") is not None:
            window["start_time"] = from_millis(params["startTime"])
        if params.get("endTime") is not None:
            window["end_time"] = from_millis(params["endTime"])
        return window

    def filter_log_events(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """Events of the named (or prefixed, or all) streams that match ``filterPattern``,
        interleaved by time, oldest first, ``limit`` (default 10000) per page.

        Filter patterns: space-separated terms (all must occur), ``"quoted phrases"``,
        ``-term`` (must not occur) and ``?term`` (at least one ``?`` term must occur).
        """
        group_of(params)
        matcher = _term_matcher(params.get("filterPattern", ""))
        names = params.get("logStreamNames")
        if names is not None and "logStreamNamePrefix" in params:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefix cannot both be given."
            )
        if names is not None:
            streams = []
            for name in names:
                try:
                    streams.append(self.catalog.find(request.account_id, request.region, name))
                except ResourceNotFoundException:
                    continue
        else:
            prefix = params.get("logStreamNamePrefix", "")
            streams = self.catalog.matching(request.account_id, request.region, prefix)
        cursors: dict[str, int] = {}
        if "nextToken" in params:
            cursors = dict(decode_token(params["nextToken"], "filter").get("after", {}))
        limit = params.get("limit", MAX_EVENTS)
        window = self._window(params)
        candidates: list[tuple[LogEvent, Stream]] = []
        exhausted: dict[str, int] = {}
        more = False
        for stream in streams:
            found, last_scanned, complete = self._scan(stream, cursors, window, matcher, limit)
            candidates.extend((event, stream) for event in found)
            more = more or not complete
            if complete:
                exhausted[stream.name] = last_scanned
        candidates.sort(key=lambda pair: (pair[0].timestamp, pair[0].sequence))
        taken = candidates[:limit]
        more = more or len(candidates) > limit
        for stream in streams:
            taken_here = [e.sequence for e, s in taken if s.name == stream.name]
            if taken_here:
                cursors[stream.name] = max(taken_here)
            elif stream.name in exhausted and not any(s.name == stream.name for _, s in candidates):
                cursors[stream.name] = max(exhausted[stream.name], cursors.get(stream.name, 0))
        output: dict[str, Any] = {
            "events": [
                {
                    **output_event(event),
                    "logStreamName": stream.name,
                    "eventId": str(event.sequence),
                }
                for event, stream in taken
            ],
            "searchedLogStreams": [
                {"logStreamName": s.name, "searchedCompletely": not more} for s in streams
            ],
        }
        if more:
            output["nextToken"] = encode_token({"kind": "filter", "after": cursors})
        return output

    def _scan(
        self,
        stream: Stream,
        cursors: dict[str, int],
        window: dict[str, Any],
        matcher: Callable[[str], bool],
        limit: int,
    ) -> tuple[list[LogEvent], int, bool]:
        """Up to ``limit`` matching events after the stream's cursor; the last sequence
        scanned; whether the stream has nothing further."""
        after = cursors.get(stream.name, 0)
        found: list[LogEvent] = []
        while len(found) < limit:
            page = self.store.list_log_events(
                stream.job.job_arn,
                stream.instance,
                after_sequence=after,
                limit=MAX_EVENTS,
                **window,
            )
            for event in page:
                if matcher(event.message):
                    found.append(event)
                    if len(found) == limit:
                        return found, event.sequence, False
            if len(page) < MAX_EVENTS:
                return found, page[-1].sequence if page else after, True
            after = page[-1].sequence
        return found, after, False


def _term_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate for a plain-text CloudWatch filter pattern (no JSON or space-delimited
    patterns: those raise InvalidParameterException)."""
    text = pattern.strip()
    if text.startswith(("{", "[")) or text.startswith("%"):
        raise InvalidParameterException(
            'hybridjobs supports plain-text filter patterns only (terms, "phrases", '
            "-exclusions, ?alternatives)."
        )
    terms = re.findall(r'([?-]?)(?:"((?:\\.|[^"\\])*)"|(\S+))', text)
    required = [q or w for op, q, w in terms if op == ""]
    excluded = [q or w for op, q, w in terms if op == "-"]
    optional = [q or w for op, q, w in terms if op == "?"]

    def matches(message: str) -> bool:
        return (
            all(t in message for t in required)
            and not any(t in message for t in excluded)
            and (not optional or any(t in message for t in optional))
        )

    return matches
