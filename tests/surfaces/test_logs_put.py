"""PutLogEvents and CreateLogStream on a live server, through a real boto3 ``logs`` client:
an instance agent's lines are stored exactly once whatever it retries, and read back by
GetLogEvents, FilterLogEvents and the SDK's ``metrics()``."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from braket.aws import AwsQuantumJob, AwsSession
from support.braket import expect_error
from support.jobs import create_job_request, unique_name
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LiveServer

from hybridjobs.jobs.logstreams import LOG_GROUP, stream_name
from hybridjobs.jobs.model import Job, JobStatus
from hybridjobs.store.sql import SqlJobStore

REGION = "us-west-2"
NOW_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def server_store(server: LiveServer) -> Iterator[SqlJobStore]:
    """The live server's store (its SQLite file): jobs start there, as no scheduler runs."""
    store = SqlJobStore(f"sqlite:///{server.data_dir / 'hybridjobs.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def logs(server: LiveServer) -> Any:
    return server.client("logs")


@pytest.fixture(scope="module")
def unchecked_logs(server: LiveServer) -> Any:
    """A ``logs`` client that sends what botocore would refuse to (so the server judges)."""
    return server.client("logs", config=Config(parameter_validation=False))


@pytest.fixture
def job(server: LiveServer, server_store: SqlJobStore) -> Job:
    """A job created through the API and moved to RUNNING a minute ago."""
    braket = server.client("braket")
    arn = braket.create_job(**create_job_request(jobName=unique_name("put")))["jobArn"]
    started = datetime.datetime.fromtimestamp(NOW_MS / 1000 - 60, tz=datetime.UTC)
    running = server_store.transition(arn, JobStatus.RUNNING, updates={"started_at": started})
    assert running is not None
    return running


@pytest.fixture
def stream(job: Job) -> dict[str, str]:
    """The group and stream of the job's first instance, as PutLogEvents names them."""
    return {"logGroupName": LOG_GROUP, "logStreamName": stream_name(job, "algo-1")}


def lines(first: int, count: int) -> list[dict[str, Any]]:
    """Events for lines ``first .. first+count-1`` of the agent's output, 10 ms apart;
    line 3 is a metrics line."""
    events = []
    for number in range(first, first + count):
        message = f"line {number}"
        if number == 3:
            message = f"Metrics - timestamp={NOW_MS // 1000}; loss=0.25; iteration_number=7;"
        events.append({"timestamp": NOW_MS + 10 * number, "message": message})
    return events


def put(logs: Any, stream: dict[str, str], events: list[dict[str, Any]], token: str | None) -> str:
    """PutLogEvents with ``token`` (none: leave it out); the nextSequenceToken."""
    extra = {} if token is None else {"sequenceToken": token}
    answer = logs.put_log_events(**stream, logEvents=events, **extra)
    assert "rejectedLogEventsInfo" not in answer
    token_out: str = answer["nextSequenceToken"]
    return token_out


def read_back(logs: Any, stream: dict[str, str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = logs.get_log_events(**stream, startFromHead=True)["events"]
    return events


def test_create_then_put_then_read_each_line_once(
    logs: Any, stream: dict[str, str], job: Job, server_store: SqlJobStore
) -> None:
    """Batches in order, a retry of a batch already stored, a batch after a gap, and a
    retry that carries more lines than were stored: every line is read back once, in
    order, at the time it was sent."""
    logs.create_log_stream(**stream)  # the stream exists already: boto3 code that creates works
    assert put(logs, stream, lines(0, 3), None) == "3"
    assert put(logs, stream, lines(3, 2), "3") == "5"

    retry = expect_error(
        logs.put_log_events,
        "DataAlreadyAcceptedException",
        400,
        **stream,
        logEvents=lines(3, 2),
        sequenceToken="3",
    )
    assert retry["expectedSequenceToken"] == "5"
    gap = expect_error(
        logs.put_log_events,
        "InvalidSequenceTokenException",
        400,
        **stream,
        logEvents=lines(7, 1),
        sequenceToken="7",
    )
    assert gap["expectedSequenceToken"] == "5"
    assert put(logs, stream, lines(4, 4), "4") == "8"  # line 4 held, 5..7 new
    assert put(logs, stream, lines(8, 1), "8") == "9"

    events = read_back(logs, stream)
    assert [e["message"] for e in events] == [e["message"] for e in lines(0, 9)]
    assert [e["timestamp"] for e in events] == [NOW_MS + 10 * n for n in range(9)]
    filtered = logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNamePrefix=job.job_name)
    assert [e["message"] for e in filtered["events"]] == [e["message"] for e in lines(0, 9)]
    assert {e["logStreamName"] for e in filtered["events"]} == {stream["logStreamName"]}
    points = server_store.list_metrics(job.job_arn)
    assert [(p.instance, p.name, p.value, p.iteration_number) for p in points] == [
        ("algo-1", "loss", 0.25, 7)
    ]


def test_the_sdk_sees_the_metrics_of_shipped_lines(
    logs: Any,
    stream: dict[str, str],
    job: Job,
    server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``job.metrics()`` (a Logs Insights query over the stored lines) shows the metrics
    line once, though its batch was sent twice."""
    put(logs, stream, lines(0, 5), None)
    expect_error(
        logs.put_log_events, "DataAlreadyAcceptedException", **stream, logEvents=lines(0, 5)
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    session = AwsSession(boto_session=boto3.Session(region_name=REGION))

    metrics = AwsQuantumJob(job.job_arn, aws_session=session).metrics()

    assert metrics == {"timestamp": [NOW_MS // 1000], "loss": [0.25], "iteration_number": [7.0]}


def test_lines_after_the_job_ended_are_accepted(
    logs: Any, stream: dict[str, str], job: Job, server_store: SqlJobStore
) -> None:
    put(logs, stream, lines(0, 2), None)
    assert server_store.transition(job.job_arn, JobStatus.COMPLETED) is not None

    assert put(logs, stream, lines(2, 1), "2") == "3"
    assert [e["message"] for e in read_back(logs, stream)] == ["line 0", "line 1", "line 2"]


def test_instances_count_their_lines_apart(
    server: LiveServer, server_store: SqlJobStore, logs: Any
) -> None:
    braket = server.client("braket")
    request = create_job_request(jobName=unique_name("pair"), instanceConfig={"instanceCount": 2})
    arn = braket.create_job(**request)["jobArn"]
    started = datetime.datetime.fromtimestamp(NOW_MS / 1000 - 60, tz=datetime.UTC)
    job = server_store.transition(arn, JobStatus.RUNNING, updates={"started_at": started})
    assert job is not None
    first, second = (
        {"logGroupName": LOG_GROUP, "logStreamName": stream_name(job, host)}
        for host in ("algo-1", "algo-2")
    )

    assert put(logs, first, lines(0, 2), None) == "2"
    assert put(logs, second, lines(0, 1), None) == "1"
    assert put(logs, second, lines(1, 1), "1") == "2"

    assert [e["message"] for e in read_back(logs, first)] == ["line 0", "line 1"]
    assert [e["message"] for e in read_back(logs, second)] == ["line 0", "line 1"]


def too_large() -> list[dict[str, Any]]:
    half = "x" * (600 * 1024)
    return [{"timestamp": NOW_MS, "message": half}, {"timestamp": NOW_MS, "message": half}]


@pytest.mark.parametrize(
    ("events", "token", "code", "field"),
    [
        ([], None, "InvalidParameterException", "logEvents"),
        ([{"timestamp": NOW_MS, "message": ""}], None, "InvalidParameterException", "message"),
        ([{"timestamp": -1, "message": "x"}], None, "InvalidParameterException", "timestamp"),
        (lines(0, 10_001), None, "InvalidParameterException", "logEvents"),
        (lines(0, 2)[::-1], None, "InvalidParameterException", "logEvents[1].timestamp"),
        (
            [{"timestamp": NOW_MS - 25 * 3600 * 1000, "message": "x"}, lines(0, 1)[0]],
            None,
            "InvalidParameterException",
            "24 hours",
        ),
        (
            [{"timestamp": NOW_MS, "message": "x" * (1024 * 1024)}],
            None,
            "InvalidParameterException",
            "logEvents[0].message",
        ),
        (too_large(), None, "InvalidParameterException", "logEvents"),
        ([{"timestamp": 10**17, "message": "x"}], None, "InvalidParameterException", "timestamp"),
        (lines(0, 1), "", "InvalidParameterException", "sequenceToken"),
        (lines(0, 1), "not-a-count", "InvalidSequenceTokenException", "sequenceToken"),
        (lines(0, 1), "9" * 40, "InvalidSequenceTokenException", "sequenceToken"),
    ],
    ids=[
        "empty",
        "empty-message",
        "negative-time",
        "10001-events",
        "out-of-order",
        "over-24h",
        "event-over-1MiB",
        "batch-over-1MiB",
        "past-year-9999",
        "empty-token",
        "token-no-count",
        "token-huge",
    ],
)
def test_bad_batches_get_the_aws_error_and_store_nothing(
    unchecked_logs: Any,
    stream: dict[str, str],
    events: list[dict[str, Any]],
    token: str | None,
    code: str,
    field: str,
) -> None:
    extra = {} if token is None else {"sequenceToken": token}
    error = expect_error(
        unchecked_logs.put_log_events, code, 400, **stream, logEvents=events, **extra
    )
    assert field in error["Error"]["Message"]
    if code == "InvalidSequenceTokenException":
        assert error["expectedSequenceToken"] == "0"
    assert read_back(unchecked_logs, stream) == []
    assert put(unchecked_logs, stream, lines(0, 1), None) == "1"  # the count did not move


def test_streams_and_groups_that_are_not_there(
    logs: Any, stream: dict[str, str], job: Job, server: LiveServer
) -> None:
    missing_job = stream["logStreamName"].replace(job.job_id, "0" * 8 + job.job_id[8:])
    unknown_streams = [
        missing_job,
        stream_name(job, "algo-2"),  # the job has one instance
        stream["logStreamName"] + "0",
        "no-such-stream",
    ]
    for name in unknown_streams:
        expect_error(
            logs.put_log_events,
            "ResourceNotFoundException",
            400,
            logGroupName=LOG_GROUP,
            logStreamName=name,
            logEvents=lines(0, 1),
        )
        expect_error(
            logs.create_log_stream,
            "ResourceNotFoundException",
            400,
            logGroupName=LOG_GROUP,
            logStreamName=name,
        )
    expect_error(
        logs.put_log_events,
        "ResourceNotFoundException",
        **{**stream, "logGroupName": "/other"},
        logEvents=lines(0, 1),
    )
    expect_error(
        logs.create_log_group, "ResourceAlreadyExistsException", 400, logGroupName=LOG_GROUP
    )
    other = expect_error(
        logs.create_log_group, "InvalidParameterException", 400, logGroupName="/mine"
    )
    assert "logGroupName" in other["Error"]["Message"]
    queued = server.client("braket").create_job(**create_job_request(jobName=unique_name("q")))
    expect_error(
        logs.create_log_stream,
        "ResourceNotFoundException",
        logGroupName=LOG_GROUP,
        logStreamName=f"q/{queued['jobArn'].rsplit('/', 1)[1]}/algo-1-0",
    )


def test_a_stream_of_another_region_is_not_found(
    server: LiveServer, stream: dict[str, str]
) -> None:
    elsewhere = server.client("logs", region="eu-west-2")
    expect_error(
        elsewhere.put_log_events, "ResourceNotFoundException", **stream, logEvents=lines(0, 1)
    )


def test_text_the_database_or_utf8_cannot_hold(logs: Any, stream: dict[str, str]) -> None:
    """A lone surrogate (JSON allows one) becomes U+FFFD; NUL stays (the server's store is
    SQLite; PostgreSQL's replacement is a store contract test)."""
    put(logs, stream, [{"timestamp": NOW_MS, "message": "nul \x00, lone \ud800."}], None)
    assert [e["message"] for e in read_back(logs, stream)] == ["nul \x00, lone \ufffd."]
