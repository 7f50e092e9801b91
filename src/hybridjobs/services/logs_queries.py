"""Logs Insights queries (StartQuery, GetQueryResults, StopQuery) over the job store.

A query (the subset :mod:`~hybridjobs.services.logs_insights` parses) runs to completion
inside StartQuery, over the streams its ``@logStream`` filters allow (found through their
literal prefix) and the lines its ``@message`` filters keep (a literal filter is pushed
down to the store). Results wait in memory, the newest ``MAX_QUERIES`` of them, for
GetQueryResults; they belong to the account that ran the query.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections import OrderedDict
from typing import Any

from hybridjobs.errors import ResourceNotFoundException
from hybridjobs.jobs.logstreams import LOG_GROUP
from hybridjobs.services.logs_insights import MalformedQueryException, Query, parse_query
from hybridjobs.services.logs_streams import (
    MAX_EVENTS,
    InvalidParameterException,
    LogCatalog,
    Stream,
    group_of,
)
from hybridjobs.store.base import JobStore, LogEvent
from hybridjobs.wire.messages import WireRequest

DEFAULT_QUERY_LIMIT = 10000
MAX_QUERIES = 256


class InsightsQueries:
    """Runs queries at once and keeps their results (thread-safe)."""

    def __init__(self, store: JobStore, catalog: LogCatalog) -> None:
        self.store = store
        self.catalog = catalog
        self._queries: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def start_query(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """Run the query over [startTime, endTime] (epoch seconds, both inclusive) now and
        keep its results for GetQueryResults."""
        language = params.get("queryLanguage", "CWLI")
        if language != "CWLI":
            raise MalformedQueryException(f"hybridjobs runs only CWLI queries, not {language}.")
        groups = [g for g in [params.get("logGroupName")] if g]
        groups += params.get("logGroupNames", []) + params.get("logGroupIdentifiers", [])
        if not groups:
            raise InvalidParameterException("The query names no log group.")
        for group in groups:
            group_of({"logGroupIdentifier": group})
        query = parse_query(params["queryString"])
        start = datetime.datetime.fromtimestamp(params["startTime"], tz=datetime.UTC)
        end = datetime.datetime.fromtimestamp(params["endTime"] + 1, tz=datetime.UTC)
        if end <= start:
            raise InvalidParameterException("endTime must not be before startTime.")
        limit = min(query.limit or DEFAULT_QUERY_LIMIT, params.get("limit", DEFAULT_QUERY_LIMIT))
        rows, scanned, size = self._run(request, query, start, end, limit)
        results = [_result_row(request, query, event, stream) for event, stream in rows]
        query_id = str(uuid.uuid4())
        answer = {
            "queryLanguage": "CWLI",
            "status": "Complete",
            "results": results,
            "statistics": {
                "recordsMatched": float(len(rows)),
                "recordsScanned": float(scanned),
                "bytesScanned": float(size),
                "logGroupsScanned": 1.0,
            },
        }
        with self._lock:
            self._queries[query_id] = (request.account_id, answer)
            while len(self._queries) > MAX_QUERIES:
                self._queries.popitem(last=False)
        return {"queryId": query_id}

    def _run(
        self,
        request: WireRequest,
        query: Query,
        start: datetime.datetime,
        end: datetime.datetime,
        limit: int,
    ) -> tuple[list[tuple[LogEvent, Stream]], int, int]:
        prefix = query.stream_prefix
        streams = [
            s
            for s in self.catalog.matching(request.account_id, request.region, prefix)
            if all(f.pattern.search(s.name) for f in query.filters_on("@logStream"))
        ]
        message_filters = query.filters_on("@message")
        literal = next((f.literal for f in message_filters if f.literal), None)
        rows: list[tuple[LogEvent, Stream]] = []
        scanned = size = 0
        for stream in streams:
            found = 0
            cursor: int | None = None  # the last sequence read, paging in query order
            while found < limit:
                page = self.store.list_log_events(
                    stream.job.job_arn,
                    stream.instance,
                    after_sequence=0 if query.newest_first else (cursor or 0),
                    before_sequence=cursor if query.newest_first else None,
                    start_time=start,
                    end_time=end,
                    limit=MAX_EVENTS,
                    newest_first=query.newest_first,
                    contains=literal,
                )
                scanned += len(page)
                for event in page:
                    if found < limit and all(
                        f.pattern.search(event.message) for f in message_filters
                    ):
                        rows.append((event, stream))
                        size += len(event.message.encode())
                        found += 1
                if len(page) < MAX_EVENTS:
                    break
                cursor = page[-1].sequence
        rows.sort(key=lambda r: (r[0].timestamp, r[0].sequence), reverse=query.newest_first)
        return rows[:limit], scanned, size

    def _owned_query(self, request: WireRequest, query_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self._queries.get(query_id)
        if entry is None or entry[0] != request.account_id:
            raise ResourceNotFoundException(f"Query {query_id} does not exist.")
        return entry[1]

    def get_query_results(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """The finished query's results (every query completes within StartQuery)."""
        return self._owned_query(request, params["queryId"])

    def stop_query(self, request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
        """Nothing to stop: queries complete at once (``success`` is false, as for AWS's
        finished queries)."""
        self._owned_query(request, params["queryId"])
        return {"success": False}


def _insights_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _result_row(
    request: WireRequest, query: Query, event: LogEvent, stream: Stream
) -> list[dict[str, str]]:
    values = {
        "@timestamp": _insights_time(event.timestamp),
        "@message": event.message,
        "@logStream": stream.name,
        "@log": f"{request.account_id}:{LOG_GROUP}",
        "@ingestionTime": _insights_time(event.timestamp),
    }
    names = [*query.fields, *(["@logStream"] if "@logStream" not in query.fields else [])]
    return [{"field": name, "value": values[name]} for name in names]
