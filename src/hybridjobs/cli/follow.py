"""Watching a job through the API: new lifecycle events, new log lines, until it ends.

Log lines come from CloudWatch Logs (group ``/aws/braket/jobs``, one stream per instance
named ``<jobName>/<jobId>/algo-<n>-<epoch>``), events from GetJob. Polling is the only way
to learn about either over the AWS API; the waits between polls use an Event so a caller
(or Ctrl-C) can end them at once.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.cli.client import LOG_GROUP, TERMINAL, Connection, job_id_of
from hybridjobs.cli.render import Output, Style, duration, event_line
from hybridjobs.jobs.metrics import describe_metric_line, parse_metric_line

POLL_SECONDS = 0.25
# Lines the platform prints before the user's code; `run` and `demo` hide them.
SETUP_END_MARKERS = ("Running Code As Process", "MPI is active")
PLATFORM_TAIL = ("Code Run Finished", "Reporting training SUCCESS", "Reporting training FAILURE")


@dataclass(frozen=True)
class LogLine:
    """One log event of one instance."""

    instance: str  # "algo-N"
    timestamp_ms: int
    message: str


def instance_of(stream_name: str) -> str:
    """``algo-N`` from a stream name ``<jobName>/<jobId>/algo-N-<epoch>``."""
    last = stream_name.rsplit("/", 1)[-1]
    parts = last.split("-")
    return "-".join(parts[:2]) if len(parts) >= 2 else last


def _instance_number(label: str) -> int:
    tail = label.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@dataclass
class LogReader:
    """Reads the new log events of a job's streams on every :meth:`poll`.

    ``instance`` (1-based) restricts it to the stream of ``algo-<instance>``.
    """

    connection: Connection
    job_name: str
    job_arn: str
    instance: int | None = None
    _tokens: dict[str, str | None] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.job_name}/{job_id_of(self.job_arn)}/"

    def streams(self) -> list[str]:
        """The job's stream names, ordered by instance number."""
        from botocore.exceptions import ClientError

        names: list[str] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamNamePrefix": self.prefix,
                "orderBy": "LogStreamName",
            }
            if token:
                request["nextToken"] = token
            try:
                page = self.connection.logs.describe_log_streams(**request)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []
                raise
            names.extend(s["logStreamName"] for s in page.get("logStreams", []))
            token = page.get("nextToken")
            if not token:
                break
        if self.instance is not None:
            names = [n for n in names if instance_of(n) == f"algo-{self.instance}"]
        return sorted(names, key=lambda n: (_instance_number(instance_of(n)), n))

    def poll(self) -> list[LogLine]:
        """Every event appended since the last poll, across streams, oldest first."""
        lines: list[LogLine] = []
        for stream in self.streams():
            lines.extend(self._read_stream(stream))
        lines.sort(key=lambda line: (line.timestamp_ms, _instance_number(line.instance)))
        return lines

    def _read_stream(self, stream: str) -> list[LogLine]:
        label = instance_of(stream)
        lines: list[LogLine] = []
        token = self._tokens.get(stream)
        while True:
            request: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                request["nextToken"] = token
            page = self.connection.logs.get_log_events(**request)
            events = page.get("events", [])
            lines.extend(LogLine(label, int(e["timestamp"]), str(e["message"])) for e in events)
            following = page.get("nextForwardToken")
            if following:
                self._tokens[stream] = following
            if not events or not following or following == token:
                return lines
            token = following


def format_line(style: Style, line: LogLine) -> str:
    """``algo-N | message``, the instance label in its colour."""
    return f"{style.instance(line.instance)} {style('|', 'dim')} {line.message}"


class EventTracker:
    """Remembers which of a job's events were already shown."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def new(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        fresh = []
        for event in job.get("events", []):
            key = (
                str(event.get("eventType")),
                str(event.get("timeOfEvent")),
                str(event.get("message", "")),
            )
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(event)
        return fresh


@dataclass
class FollowOptions:
    """What a :class:`JobFollower` shows."""

    events: bool = True
    logs: bool = True
    instance: int | None = None
    hide_setup: bool = False
    pretty_metrics: bool = False
    metric_every: int = 1  # with pretty_metrics: show iterations 1, n, 2n, ... only


class JobFollower:
    """Prints a job's events and log lines until it reaches a terminal status."""

    def __init__(
        self, connection: Connection, job: dict[str, Any], out: Output, options: FollowOptions
    ) -> None:
        self.connection = connection
        self.job = job
        self.out = out
        self.options = options
        self.events = EventTracker()
        self.reader = LogReader(connection, job["jobName"], job["jobArn"], options.instance)
        self.stop = threading.Event()
        self._in_setup: dict[str, bool] = {}
        self._held: dict[str, list[LogLine]] = {}
        self._pending: list[LogLine] = []  # shown lines waiting for the next GetJob
        self._latest_event = float("-inf")  # newest timeOfEvent seen, epoch seconds
        self._started = time.monotonic()

    def run(self) -> dict[str, Any]:
        """Follow until the job is terminal (or :attr:`stop` is set); the last GetJob.

        Each round reads GetJob first and the logs second, so when the job is terminal
        every line it printed is already readable. Events and lines are printed merged in
        time order, and a line is printed only once no event can still turn up before it
        (see :meth:`_show`).
        """
        while not self.stop.is_set():
            self.job = self.connection.get_job(self.job["jobArn"])
            events = self.events.new(self.job) if self.options.events else []
            lines = self.reader.poll() if self.options.logs else []
            terminal = self.job["status"] in TERMINAL
            self._show(events, lines, final=terminal)
            if terminal:
                if self.job["status"] == "FAILED":
                    self._release_held()
                self.out.clear_status()
                return self.job
            self.out.status(self._status_text())
            self.stop.wait(POLL_SECONDS)
        self._show([], [], final=True)
        self.out.clear_status()
        return self.job

    def _show(
        self, events: list[dict[str, Any]], lines: list[LogLine], final: bool = False
    ) -> None:
        """Print ``events`` (from this round's GetJob) and the lines that are safe to print,
        all in time order; keep the others in :attr:`_pending` for the next round.

        The logs are read *after* GetJob, so a round's lines may be newer than an event
        that GetJob did not show yet (an instance prints thousands of lines between the
        scheduler recording RUNNING and our reading it). A line is safe once its time is
        at most the newest event time seen so far, or once it has waited one round: an
        event that happened before the line was written happened before the next GetJob,
        which therefore shows it. Events themselves are never held. ``final`` (the job
        is terminal, or the follow stops) prints everything.
        """
        for event in events:
            moment = _event_seconds(event)
            if moment is not None:
                self._latest_event = max(self._latest_event, moment)
        safe_until = self._latest_event
        for line in self._pending:
            safe_until = max(safe_until, line.timestamp_ms / 1000)
        candidates = self._pending + [line for line in lines if not self._hidden(line)]
        self._pending = []
        items: list[tuple[float, int, dict[str, Any] | LogLine]] = []
        for event in events:
            items.append((_event_seconds(event) or 0.0, len(items), event))
        for line in candidates:
            moment = line.timestamp_ms / 1000
            if final or moment <= safe_until or not self.options.events:
                items.append((moment, len(items), line))
            else:
                self._pending.append(line)
        origin: datetime.datetime | None = self.job.get("createdAt")
        for _, _, item in sorted(items, key=lambda entry: (entry[0], entry[1])):
            if isinstance(item, LogLine):
                self._print(item)
            else:
                self.out.line(event_line(self.out.style, item, origin))

    def _print(self, line: LogLine) -> None:
        if self.options.pretty_metrics and (points := parse_metric_line(line.message, "", 0.0)):
            iteration = points[0].iteration_number
            every = self.options.metric_every
            if iteration is not None and iteration != 1 and iteration % every:
                return
            pretty = self.out.style(describe_metric_line(line.message) or "", "green")
            line = LogLine(line.instance, line.timestamp_ms, pretty)
        self.out.line(format_line(self.out.style, line))

    def _hidden(self, line: LogLine) -> bool:
        """Whether ``line`` is platform output that ``hide_setup`` hides: everything an
        instance prints before the user's code starts, and the platform's closing lines.
        Held set-up lines are shown after all if the job fails before the code ran."""
        if not self.options.hide_setup:
            return False
        if not self._in_setup.get(line.instance, True):
            return line.message.startswith(PLATFORM_TAIL)
        if line.message.startswith(SETUP_END_MARKERS):
            self._in_setup[line.instance] = False
            self._held.pop(line.instance, None)
        else:
            self._held.setdefault(line.instance, []).append(line)
        return True

    def _release_held(self) -> None:
        held, self._held = self._held, {}
        for lines in held.values():
            for line in lines:
                self._print(line)

    def _status_text(self) -> str:
        status = self.job["status"]
        elapsed = duration(time.monotonic() - self._started)
        text = f"{self.out.style.status(status)} {self.job['jobName']} · {elapsed}"
        position = (self.job.get("queueInfo") or {}).get("position")
        if status == "QUEUED" and position and position != "None":
            text += f" · queue position {position}"
        return text


def _event_seconds(event: dict[str, Any]) -> float | None:
    moment: datetime.datetime | None = event.get("timeOfEvent")
    return moment.timestamp() if moment else None


def wait_until_done(
    connection: Connection, job_arn: str, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Poll GetJob until the job is terminal; the last answer."""
    stop = stop or threading.Event()
    while True:
        job = connection.get_job(job_arn)
        if job["status"] in TERMINAL or stop.is_set():
            return job
        stop.wait(POLL_SECONDS)
