"""CreateJob, GetJob and CancelJob through boto3 against a live server (no scheduler)."""

from __future__ import annotations

import datetime
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from dateutil.tz import tzutc
from support.braket import ISO_TIMESTAMP, RawBodies, expect_error, newest_job_arn
from support.jobs import create_job_request, unique_name
from support.server import LiveServer

from hybridjobs.jobs.model import JobStatus
from hybridjobs.store.sql import SqlJobStore

MISSING_JOB = "arn:aws:braket:us-west-2:000000000000:job/00000000-0000-4000-8000-000000000000"
ARN_FORMAT = r"arn:aws:braket:{region}:000000000000:job/[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}"


def create(braket: Any, **overrides: Any) -> str:
    arn: str = braket.create_job(**create_job_request(**overrides))["jobArn"]
    return arn


# -- CreateJob ----------------------------------------------------------------------------


def test_create_job_answers_201_with_a_uuid_arn(braket: Any) -> None:
    response = braket.create_job(**create_job_request())

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert response["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(ARN_FORMAT.format(region="us-west-2"), response["jobArn"])


@pytest.mark.parametrize("region", ["us-west-2", "eu-west-2"])
def test_the_arn_region_is_the_clients(server: LiveServer, region: str) -> None:
    client = server.client("braket", region=region)

    arn = create(client)

    assert arn.split(":")[3] == region
    assert client.get_job(jobArn=arn)["jobArn"] == arn


def test_duplicate_job_names_are_allowed(braket: Any) -> None:
    name = unique_name("dup")

    first, second = create(braket, jobName=name), create(braket, jobName=name)

    assert first != second
    found = braket.search_jobs(filters=[{"name": "jobName", "values": [name], "operator": "EQUAL"}])
    assert {job["jobArn"] for job in found["jobs"]} == {first, second}


def test_same_token_same_request_returns_the_same_job(braket: Any) -> None:
    request = create_job_request(jobName=unique_name())

    first = braket.create_job(**request)["jobArn"]
    again = braket.create_job(**request)["jobArn"]

    assert again == first
    assert newest_job_arn(braket) == first


def test_same_token_other_request_is_a_conflict(braket: Any) -> None:
    request = create_job_request(jobName=unique_name())
    first = braket.create_job(**request)["jobArn"]

    response = expect_error(
        braket.create_job, "ConflictException", 409, **{**request, "jobName": unique_name()}
    )

    assert "clientToken" in response["Error"]["Message"]
    assert first in response["Error"]["Message"]
    assert newest_job_arn(braket) == first


def test_fifty_parallel_creates_with_one_token_make_one_job(server: LiveServer) -> None:
    request = create_job_request(jobName=unique_name("race"))
    clients = [server.client("braket") for _ in range(50)]

    with ThreadPoolExecutor(max_workers=50) as pool:
        arns = list(pool.map(lambda c: c.create_job(**request)["jobArn"], clients))

    assert len(set(arns)) == 1
    found = clients[0].search_jobs(
        filters=[{"name": "jobName", "values": [request["jobName"]], "operator": "EQUAL"}]
    )
    assert [job["jobArn"] for job in found["jobs"]] == arns[:1]


@pytest.mark.parametrize(
    ("overrides", "what"),
    [
        ({"instanceConfig": {"instanceCount": 6}}, "instanceCount"),
        ({"instanceConfig": {"instanceType": "ml.g4dn.xlarge"}}, "GPU"),
        ({"instanceConfig": {"instanceType": "ml.p3.2xlarge"}}, "GPU"),
    ],
)
def test_quota_exceeded(braket: Any, overrides: dict[str, Any], what: str) -> None:
    before = newest_job_arn(braket)

    response = expect_error(
        braket.create_job,
        "ServiceQuotaExceededException",
        402,
        **create_job_request(**overrides),
    )

    assert what in response["Error"]["Message"]
    assert newest_job_arn(braket) == before


# -- GetJob -------------------------------------------------------------------------------


def test_get_job_echoes_the_request_with_defaults(braket: Any) -> None:
    request = create_job_request(
        jobName=unique_name("echo"),
        hyperParameters={"shots": "100", "lr": "0.1"},
        inputDataConfig=[
            {"channelName": "data", "dataSource": {"s3DataSource": {"s3Uri": "s3://b/in/"}}}
        ],
        checkpointConfig={"s3Uri": "s3://b/ckpt"},
        tags={"team": "qml"},
    )
    before = datetime.datetime.now(tz=tzutc())
    arn = braket.create_job(**request)["jobArn"]
    after = datetime.datetime.now(tz=tzutc())

    job = braket.get_job(jobArn=arn)

    assert job["jobArn"] == arn
    assert job["status"] == "QUEUED"
    for member in (
        "jobName",
        "roleArn",
        "algorithmSpecification",
        "outputDataConfig",
        "deviceConfig",
        "hyperParameters",
        "inputDataConfig",
    ):
        assert job[member] == request[member], member
    assert job["instanceConfig"] == {**request["instanceConfig"], "instanceCount": 1}
    assert job["stoppingCondition"] == {"maxRuntimeInSeconds": 432000}
    assert job["checkpointConfig"] == {
        "s3Uri": "s3://b/ckpt",
        "localPath": "/opt/braket/checkpoints/",
    }
    assert job["tags"] == {"team": "qml"}
    assert "clientToken" not in job
    assert before - datetime.timedelta(seconds=1) <= job["createdAt"] <= after
    assert "startedAt" not in job
    assert "endedAt" not in job
    assert "failureReason" not in job
    assert [e["eventType"] for e in job["events"]] == ["QUEUED_FOR_EXECUTION"]
    assert "queueInfo" not in job


def test_get_job_keeps_explicit_values(braket: Any) -> None:
    arn = create(
        braket,
        instanceConfig={"instanceCount": 3},
        stoppingCondition={"maxRuntimeInSeconds": 60},
        checkpointConfig={"s3Uri": "s3://b/c", "localPath": "/tmp/ckpt"},
    )
    job = braket.get_job(jobArn=arn)
    assert job["instanceConfig"]["instanceCount"] == 3
    assert job["stoppingCondition"] == {"maxRuntimeInSeconds": 60}
    assert job["checkpointConfig"]["localPath"] == "/tmp/ckpt"


def test_timestamps_are_iso8601_on_the_wire(server: LiveServer) -> None:
    client = server.client("braket")
    raw = RawBodies(client)
    arn = create(client)

    client.get_job(jobArn=arn)

    body = json.loads(raw.last)
    assert ISO_TIMESTAMP.fullmatch(body["createdAt"]), body["createdAt"]
    assert ISO_TIMESTAMP.fullmatch(body["events"][0]["timeOfEvent"])


def queue_info(braket: Any, arn: str) -> dict[str, str]:
    info: dict[str, str] = braket.get_job(jobArn=arn, additionalAttributeNames=["QueueInfo"])[
        "queueInfo"
    ]
    return info


def test_queue_info_positions(braket: Any) -> None:
    first, second = create(braket), create(braket)

    one, two = queue_info(braket, first), queue_info(braket, second)

    assert one["queue"] == two["queue"] == "JOBS_QUEUE"
    assert int(one["position"]) >= 1
    assert int(two["position"]) == int(one["position"]) + 1
    braket.cancel_job(jobArn=first)
    assert int(queue_info(braket, second)["position"]) == int(one["position"])


def test_queue_positions_count_from_one(braket: Any, server_store: SqlJobStore) -> None:
    for job in server_store.list_jobs([JobStatus.QUEUED]):  # empty the queue
        server_store.transition(job.job_arn, JobStatus.CANCELLED)

    first, second = create(braket), create(braket)

    assert queue_info(braket, first)["position"] == "1"
    assert queue_info(braket, second)["position"] == "2"


def test_queue_info_of_a_terminal_job_is_none(braket: Any) -> None:
    arn = create(braket)
    braket.cancel_job(jobArn=arn)

    info = queue_info(braket, arn)

    assert info["queue"] == "JOBS_QUEUE"
    assert info["position"] == "None"
    assert "CANCELLED" in info["message"]


def test_get_unknown_job_is_not_found(braket: Any) -> None:
    response = expect_error(braket.get_job, "ResourceNotFoundException", 404, jobArn=MISSING_JOB)
    assert MISSING_JOB in response["Error"]["Message"]


# -- CancelJob ----------------------------------------------------------------------------


def test_cancel_a_queued_job(braket: Any) -> None:
    arn = create(braket)

    response = braket.cancel_job(jobArn=arn)

    assert response["cancellationStatus"] == "CANCELLED"
    assert response["jobArn"] == arn
    job = braket.get_job(jobArn=arn)
    assert job["status"] == "CANCELLED"
    assert job["endedAt"] >= job["createdAt"]
    assert [e["eventType"] for e in job["events"]] == ["QUEUED_FOR_EXECUTION", "CANCELLED"]


def test_cancel_a_terminal_job_is_a_conflict(braket: Any) -> None:
    arn = create(braket)
    braket.cancel_job(jobArn=arn)

    response = expect_error(braket.cancel_job, "ConflictException", 409, jobArn=arn)

    assert "CANCELLED" in response["Error"]["Message"]


def test_cancel_a_running_job(braket: Any, server_store: SqlJobStore) -> None:
    arn = create(braket)
    assert server_store.transition(arn, JobStatus.RUNNING) is not None

    first = braket.cancel_job(jobArn=arn)
    again = braket.cancel_job(jobArn=arn)

    assert first["cancellationStatus"] == "CANCELLING"
    assert again["cancellationStatus"] == "CANCELLING"
    job = braket.get_job(jobArn=arn, additionalAttributeNames=["QueueInfo"])
    assert job["status"] == "CANCELLING"
    assert job["queueInfo"]["position"] == "None"


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED])
def test_cancel_a_finished_job_is_a_conflict(
    braket: Any, server_store: SqlJobStore, status: JobStatus
) -> None:
    arn = create(braket)
    server_store.transition(arn, JobStatus.RUNNING)
    server_store.transition(arn, status)

    expect_error(braket.cancel_job, "ConflictException", 409, jobArn=arn)

    assert braket.get_job(jobArn=arn)["status"] == status.value


def test_cancel_unknown_job_is_not_found(braket: Any) -> None:
    expect_error(braket.cancel_job, "ResourceNotFoundException", 404, jobArn=MISSING_JOB)
