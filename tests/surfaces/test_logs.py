"""CloudWatch Logs over the job store, called through botocore's json serializer and parser."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from hybridjobs.jobs.logstreams import LOG_GROUP, stream_name
from hybridjobs.jobs.model import Job
from hybridjobs.services.logs import LogsService
from hybridjobs.store.base import LogEvent
from hybridjobs.store.sql import SqlJobStore
from surfaces.conftest import T0, StartJob, at
from surfaces.roundtrip import OTHER_ACCOUNT, Caller, CallError

GROUP = {"logGroupName": LOG_GROUP}


@pytest.fixture
def logs(store: SqlJobStore) -> Caller:
    return Caller(LogsService(store))


def ms(moment: datetime.datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


def add_lines(store: SqlJobStore, job: Job, instance: str, lines: list[tuple[float, str]]) -> None:
    store.add_log_events(job.job_arn, [LogEvent(instance, at(t), text) for t, text in lines])


def messages(response: dict[str, object]) -> list[str]:
    events = response["events"]
    assert isinstance(events, list)
    return [e["message"] for e in events]


# -- streams -----------------------------------------------------------------------------


def test_stream_names_follow_the_sdk_prefix(start_job: StartJob) -> None:
    job = start_job(name="my-job", instances=2)
    epoch = int(T0.timestamp())
    assert stream_name(job, "algo-2") == f"my-job/{job.job_id}/algo-2-{epoch}"


def test_describe_streams_by_the_sdk_prefix(
    logs: Caller, store: SqlJobStore, start_job: StartJob
) -> None:
    job = start_job(name="pair", instances=2)
    start_job(name="pair", instances=1)  # same name, other job: not under this prefix
    add_lines(store, job, "algo-1", [(1, "a"), (5, "b")])
    prefix = f"pair/{job.job_id}"

    response = logs(
        "DescribeLogStreams", **GROUP, logStreamNamePrefix=prefix, orderBy="LogStreamName", limit=2
    )

    streams = response["logStreams"]
    epoch = int(T0.timestamp())
    assert [s["logStreamName"] for s in streams] == [
        f"{prefix}/algo-1-{epoch}",
        f"{prefix}/algo-2-{epoch}",
    ]
    first, second = streams
    assert first["creationTime"] == ms(T0)
    assert first["firstEventTimestamp"] == ms(at(1))
    assert first["lastEventTimestamp"] == ms(at(5))
    assert first["lastIngestionTime"] == ms(at(5))
    assert first["arn"].endswith(f":log-group:{LOG_GROUP}:log-stream:{first['logStreamName']}")
    assert "firstEventTimestamp" not in second  # started, nothing printed yet
    assert "nextToken" not in response


def test_describe_streams_leaves_out_jobs_not_started_and_other_accounts(
    logs: Caller, start_job: StartJob
) -> None:
    start_job(name="waiting", started_at=None)
    start_job(name="theirs", account=OTHER_ACCOUNT)
    start_job(name="elsewhere", region="eu-west-2")
    mine = start_job(name="mine")

    names = [s["logStreamName"] for s in logs("DescribeLogStreams", **GROUP)["logStreams"]]

    assert names == [stream_name(mine, "algo-1")]
    assert logs("DescribeLogStreams", **GROUP, logStreamNamePrefix="waiting")["logStreams"] == []
    assert logs("DescribeLogStreams", **GROUP, logStreamNamePrefix="theirs/")["logStreams"] == []


def test_describe_streams_by_name_prefix_order_and_pages(
    logs: Caller, store: SqlJobStore, start_job: StartJob
) -> None:
    jobs = [start_job(name=f"sweep-{i}", instances=2, started_at=at(i)) for i in range(3)]
    start_job(name="other")
    add_lines(store, jobs[0], "algo-2", [(30, "late")])
    add_lines(store, jobs[2], "algo-1", [(20, "early")])

    every = logs("DescribeLogStreams", **GROUP, logStreamNamePrefix="sweep")["logStreams"]
    assert [s["logStreamName"] for s in every] == sorted(
        stream_name(j, f"algo-{n}") for j in jobs for n in (1, 2)
    )

    pages: list[str] = []
    token: str | None = None
    while True:
        extra = {"nextToken": token} if token else {}
        page = logs("DescribeLogStreams", **GROUP, logStreamNamePrefix="sweep-", limit=4, **extra)
        pages.extend(s["logStreamName"] for s in page["logStreams"])
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == [s["logStreamName"] for s in every]

    by_time = logs("DescribeLogStreams", **GROUP, orderBy="LastEventTime", descending=True)
    newest = [s["logStreamName"] for s in by_time["logStreams"][:2]]
    assert newest == [stream_name(jobs[0], "algo-2"), stream_name(jobs[2], "algo-1")]


def test_describe_streams_errors(logs: Caller) -> None:
    with pytest.raises(CallError) as missing:
        logs("DescribeLogStreams", logGroupName="/aws/other")
    assert (missing.value.code, missing.value.status) == ("ResourceNotFoundException", 400)
    with pytest.raises(CallError) as both:
        logs("DescribeLogStreams", **GROUP, logStreamNamePrefix="x", orderBy="LastEventTime")
    assert both.value.code == "InvalidParameterException"
    with pytest.raises(CallError) as too_many:
        logs("DescribeLogStreams", **GROUP, limit=51)
    assert too_many.value.code == "InvalidParameterException"
    assert "limit" in too_many.value.message
    with pytest.raises(CallError) as token:
        logs("DescribeLogStreams", **GROUP, nextToken="garbage!")
    assert token.value.code == "InvalidParameterException"


def test_log_group_by_arn_and_describe_groups(logs: Caller, start_job: StartJob) -> None:
    job = start_job()
    arn = f"arn:aws:logs:us-west-2:111111111111:log-group:{LOG_GROUP}"
    streams = logs("DescribeLogStreams", logGroupIdentifier=arn)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream_name(job, "algo-1")]

    groups = logs("DescribeLogGroups", logGroupNamePrefix="/aws/braket")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [LOG_GROUP]
    assert groups[0]["logGroupArn"] == arn
    assert logs("DescribeLogGroups", logGroupNamePrefix="/aws/lambda")["logGroups"] == []


# -- events ------------------------------------------------------------------------------


def test_get_log_events_follows_like_the_sdk(
    logs: Caller, store: SqlJobStore, start_job: StartJob
) -> None:
    """The SDK's loop: from startTime, from the head, with nextForwardToken until a page
    is empty; the empty page hands back the same token (spec §7.9)."""
    job = start_job()
    add_lines(store, job, "algo-1", [(1, "one"), (1, "one again"), (2, "two")])
    name = stream_name(job, "algo-1")

    first = logs("GetLogEvents", **GROUP, logStreamName=name, startTime=0, startFromHead=True)
    assert messages(first) == ["one", "one again", "two"]
    assert [e["timestamp"] for e in first["events"]] == [ms(at(1)), ms(at(1)), ms(at(2))]
    assert all(e["ingestionTime"] == e["timestamp"] for e in first["events"])
    token = first["nextForwardToken"]

    empty = logs("GetLogEvents", **GROUP, logStreamName=name, startFromHead=True, nextToken=token)
    assert empty["events"] == []
    assert empty["nextForwardToken"] == token

    add_lines(store, job, "algo-1", [(3, "three")])
    more = logs("GetLogEvents", **GROUP, logStreamName=name, startFromHead=True, nextToken=token)
    assert messages(more) == ["three"]
    assert more["nextForwardToken"] != token


def test_get_log_events_time_window_limit_and_tail(
    logs: Caller, store: SqlJobStore, start_job: StartJob
) -> None:
    job = start_job()
    add_lines(store, job, "algo-1", [(t, f"line {t}") for t in range(10)])
    name = stream_name(job, "algo-1")

    def get(**params: Any) -> dict[str, Any]:
        return logs("GetLogEvents", **GROUP, logStreamName=name, **params)

    window = get(startTime=ms(at(2)), endTime=ms(at(5)), startFromHead=True)
    assert messages(window) == ["line 2", "line 3", "line 4"]  # endTime is exclusive

    head = get(startFromHead=True, limit=3)
    assert messages(head) == ["line 0", "line 1", "line 2"]
    following = get(nextToken=head["nextForwardToken"], limit=3)
    assert messages(following) == ["line 3", "line 4", "line 5"]
    back = get(nextToken=following["nextBackwardToken"], limit=2)
    assert messages(back) == ["line 1", "line 2"]

    tail = get(limit=2)  # startFromHead defaults to false: the newest events
    assert messages(tail) == ["line 8", "line 9"]
    assert messages(get(nextToken=tail["nextForwardToken"])) == []
    assert messages(get(nextToken=tail["nextBackwardToken"], limit=2)) == ["line 6", "line 7"]


def test_get_log_events_streams_are_separate_and_scoped(
    logs: Caller, store: SqlJobStore, start_job: StartJob
) -> None:
    job = start_job(instances=2)
    add_lines(store, job, "algo-1", [(1, "from one")])
    add_lines(store, job, "algo-2", [(1, "from two")])
    name_two = stream_name(job, "algo-2")
    assert messages(logs("GetLogEvents", **GROUP, logStreamName=name_two)) == ["from two"]

    stranger = Caller(logs.service, account=OTHER_ACCOUNT)
    for caller, name in [
        (stranger, name_two),
        (logs, name_two.replace("algo-2", "algo-3")),  # no third instance
        (logs, name_two[:-1] + "9"),  # wrong start time
        (logs, "not-a-stream"),
    ]:
        with pytest.raises(CallError) as missing:
            caller("GetLogEvents", **GROUP, logStreamName=name)
        assert missing.value.code == "ResourceNotFoundException"
    with pytest.raises(CallError) as bad_token:
        logs("GetLogEvents", **GROUP, logStreamName=name_two, nextToken="x/1")
    assert bad_token.value.code == "InvalidParameterException"


def test_filter_log_events_interleaves_and_pages(
    logs: Caller, store: SqlJobStore, start_job: StartJob
) -> None:
    job = start_job(name="filt", instances=2)
    add_lines(store, job, "algo-1", [(1, "ERROR a"), (3, "info b"), (5, "ERROR c")])
    add_lines(store, job, "algo-2", [(2, "ERROR d"), (4, "ERROR e debug")])
    prefix = f"filt/{job.job_id}"

    found = logs("FilterLogEvents", **GROUP, logStreamNamePrefix=prefix, filterPattern="ERROR")
    assert messages(found) == ["ERROR a", "ERROR d", "ERROR e debug", "ERROR c"]
    assert found["events"][1]["logStreamName"] == stream_name(job, "algo-2")
    assert "nextToken" not in found

    excluded = logs("FilterLogEvents", **GROUP, filterPattern="ERROR -debug")
    assert messages(excluded) == ["ERROR a", "ERROR d", "ERROR c"]
    phrase = logs("FilterLogEvents", **GROUP, filterPattern='"info b"')
    assert messages(phrase) == ["info b"]

    seen: list[str] = []
    token: str | None = None
    while True:
        extra = {"nextToken": token} if token else {}
        page = logs("FilterLogEvents", **GROUP, limit=2, **extra)
        seen.extend(messages(page))
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == ["ERROR a", "ERROR d", "info b", "ERROR e debug", "ERROR c"]

    only_two = logs("FilterLogEvents", **GROUP, logStreamNames=[stream_name(job, "algo-2")])
    assert messages(only_two) == ["ERROR d", "ERROR e debug"]
    with pytest.raises(CallError) as json_pattern:
        logs("FilterLogEvents", **GROUP, filterPattern='{ $.level = "x" }')
    assert json_pattern.value.code == "InvalidParameterException"


# -- Insights ----------------------------------------------------------------------------


def sdk_query(prefix: str) -> str:
    """The query string ``CwlInsightsMetricsFetcher`` builds (spec §3.7)."""
    escaped = prefix.replace("/", "\\/")
    return (
        f"fields @timestamp, @message | filter @logStream like /^{escaped}\\// "
        "| filter @message like /Metrics - /"
    )


def test_the_sdk_metrics_query(logs: Caller, store: SqlJobStore, start_job: StartJob) -> None:
    job = start_job(name="metrics", instances=2)
    other = start_job(name="metrics")
    add_lines(
        store,
        job,
        "algo-1",
        [(1, "starting"), (2, "Metrics - timestamp=1; loss=0.5;"), (70, "Metrics - loss=0.1;")],
    )
    add_lines(store, job, "algo-2", [(3, "Metrics - timestamp=3; loss=0.4;")])
    add_lines(store, other, "algo-1", [(2, "Metrics - loss=9;")])
    start = int(T0.timestamp())

    query_id = logs(
        "StartQuery",
        logGroupName=LOG_GROUP,
        startTime=start,
        endTime=start + 60,
        queryString=sdk_query(f"metrics/{job.job_id}"),
        limit=10000,
    )["queryId"]
    answer = logs("GetQueryResults", queryId=query_id)

    assert answer["status"] == "Complete"
    rows = [{f["field"]: f["value"] for f in row} for row in answer["results"]]
    assert [r["@message"] for r in rows] == [  # newest first, as Insights sorts by default
        "Metrics - timestamp=3; loss=0.4;",
        "Metrics - timestamp=1; loss=0.5;",
    ]
    assert rows[0]["@timestamp"] == "2024-03-01 12:00:03.000"
    assert rows[0]["@logStream"] == stream_name(job, "algo-2")
    assert list(rows[0]) == ["@timestamp", "@message", "@logStream"]
    assert answer["statistics"]["recordsMatched"] == 2.0


def test_query_sort_limit_and_regex(logs: Caller, store: SqlJobStore, start_job: StartJob) -> None:
    job = start_job(name="q")
    add_lines(store, job, "algo-1", [(t, f"step {t} loss={t / 10}") for t in range(5)])
    start = int(T0.timestamp())
    query_id = logs(
        "StartQuery",
        logGroupName=LOG_GROUP,
        startTime=start,
        endTime=start + 10,
        queryString=(
            "fields @message | filter @logStream like /^q\\// "
            "| filter @message like /step [1-3] / | sort @timestamp asc | limit 2"
        ),
    )["queryId"]
    rows = logs("GetQueryResults", queryId=query_id)["results"]
    assert [[f["value"] for f in row if f["field"] == "@message"] for row in rows] == [
        ["step 1 loss=0.1"],
        ["step 2 loss=0.2"],
    ]


@pytest.mark.parametrize(
    "query",
    [
        "stats count(*) by bin(1m)",
        "fields @timestamp | parse @message 'x * y' as a, b",
        "fields @timestamp, level",
        "fields @message | filter @message like /unclosed",
        "fields @message | filter @message like /(/",
        "fields @message || limit 2",
    ],
)
def test_unsupported_queries_are_malformed(logs: Caller, query: str) -> None:
    with pytest.raises(CallError) as error:
        logs("StartQuery", logGroupName=LOG_GROUP, startTime=0, endTime=10, queryString=query)
    assert error.value.code == "MalformedQueryException"
    assert error.value.status == 400


def test_queries_belong_to_their_account(logs: Caller) -> None:
    query_id = logs(
        "StartQuery", logGroupName=LOG_GROUP, startTime=0, endTime=10, queryString="fields @message"
    )["queryId"]
    assert logs("GetQueryResults", queryId=query_id)["results"] == []
    stranger = Caller(logs.service, account=OTHER_ACCOUNT)
    with pytest.raises(CallError) as error:
        stranger("GetQueryResults", queryId=query_id)
    assert error.value.code == "ResourceNotFoundException"
    with pytest.raises(CallError) as other_group:
        logs(
            "StartQuery",
            logGroupName="/aws/x",
            startTime=0,
            endTime=1,
            queryString="fields @message",
        )
    assert other_group.value.code == "ResourceNotFoundException"
