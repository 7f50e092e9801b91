"""The service log: one access line per answered request, job lifecycle lines, and the
format of every line (``text`` or ``json``).

An access line carries the request id (the ``x-amzn-RequestId`` the client saw), the
caller's account, the AWS service and operation, the HTTP method and status, and the
latency in milliseconds; in JSON these are top-level fields of the line's object, so a
log pipeline needs no parsing. Lines never carry a request's body, headers or query
(they may hold secrets or presigned signatures).
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal

LogFormat = Literal["text", "json"]

ACCESS = logging.getLogger("hybridjobs.access")
LIFECYCLE = logging.getLogger("hybridjobs.jobs.lifecycle")

_FIELDS = "fields"
"""The ``extra`` key under which a line's structured fields travel to the formatter."""
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, as the access log and the request metrics see it."""

    request_id: str
    account: str
    service: str
    operation: str
    method: str
    status: int
    latency_ms: float


def log_request(record: RequestRecord) -> None:
    """Write ``record``'s access line (INFO on ``hybridjobs.access``)."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    ACCESS.info(
        "%s %s %s.%s %d %.1fms account=%s",
        record.request_id,
        record.method,
        record.service,
        record.operation,
        record.status,
        record.latency_ms,
        record.account,
        extra={_FIELDS: record},
    )


def log_job(job_arn: str, status: str, reason: str | None = None, **fields: Any) -> None:
    """A job lifecycle line: ``job_arn`` reached ``status`` (with ``reason`` when it
    failed) — INFO on ``hybridjobs.jobs.lifecycle``."""
    details = {"job_arn": job_arn, "status": status, **fields}
    if reason:
        details["reason"] = reason
    extra_text = "".join(f" {key}={value}" for key, value in fields.items())
    LIFECYCLE.info(
        "job %s %s%s%s",
        job_arn,
        status,
        extra_text,
        f": {reason}" if reason else "",
        extra={_FIELDS: details},
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the line's structured fields, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, RequestRecord):
            fields = asdict(fields)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: LogFormat = "text", access_log: bool = True) -> None:
    """Send every INFO line of the process to stderr in ``log_format``; without
    ``access_log`` the access lines are left out."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ACCESS.setLevel(logging.INFO if access_log else logging.WARNING)
