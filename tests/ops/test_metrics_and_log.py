"""``/metrics`` and the service log, on a live server: what an operator scrapes and reads
after real boto3 calls, and who may scrape when access keys are configured."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from auth.signing import CREDENTIALS_ENV, Call, send, sign
from prometheus_client.parser import text_string_to_metric_families
from support.jobs import create_job_request, unique_name
from support.server import API_TEST_SERVER_ENV, LiveServer, ServerFactory, start_server

KEYED_ENV = {**API_TEST_SERVER_ENV, "HYBRIDJOBS_CREDENTIALS": CREDENTIALS_ENV}


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An API server (no scheduler) that logs JSON lines."""
    live = start_server(
        tmp_path_factory.mktemp("ops"), env=API_TEST_SERVER_ENV, extra_args=("--log-format", "json")
    )
    try:
        yield live
    finally:
        assert live.stop() == 0


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``url``/metrics, by name and sorted labels."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def json_lines(server: LiveServer) -> list[dict[str, Any]]:
    lines = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_metrics_count_requests_jobs_database_and_objects(json_server: LiveServer) -> None:
    braket, s3 = json_server.client("braket"), json_server.client("s3")
    before = scrape(json_server.url)
    s3.create_bucket(
        Bucket="ops-metrics", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    s3.put_object(Bucket="ops-metrics", Key="a.txt", Body=b"hello")
    arn = braket.create_job(**create_job_request(jobName=unique_name("metrics")))["jobArn"]
    with pytest.raises(braket.exceptions.ResourceNotFoundException):
        braket.get_job(jobArn=arn.replace(arn.rsplit("/", 1)[1], "nope"))

    after = scrape(json_server.url)
    created = sample(
        after, "hybridjobs_requests_total", service="braket", operation="CreateJob", status="201"
    )
    assert (
        created
        - sample(
            before,
            "hybridjobs_requests_total",
            service="braket",
            operation="CreateJob",
            status="201",
        )
        == 1
    )
    missing = dict(service="braket", operation="GetJob", status="404")
    assert sample(after, "hybridjobs_requests_total", **missing) == 1
    put = dict(service="s3", operation="PutObject", status="200")
    assert sample(after, "hybridjobs_requests_total", **put) == 1
    latency = dict(service="braket", operation="CreateJob")
    assert sample(after, "hybridjobs_request_seconds_count", **latency) >= 1
    assert sample(after, "hybridjobs_request_seconds_sum", **latency) > 0
    assert sample(after, "hybridjobs_jobs", status="QUEUED") >= 1
    assert sample(after, "hybridjobs_job_queue_length") == sample(
        after, "hybridjobs_jobs", status="QUEUED"
    )
    assert sample(after, "hybridjobs_instances_running") == 0
    inserts = sample(after, "hybridjobs_db_statement_seconds_count", statement="INSERT")
    assert inserts > sample(before, "hybridjobs_db_statement_seconds_count", statement="INSERT")
    assert (
        sample(after, "hybridjobs_object_store_seconds_count", call="put_bytes")
        + sample(after, "hybridjobs_object_store_seconds_count", call="put_file")
        >= 1
    )
    assert sample(after, "process_resident_memory_bytes") > 0
    assert sample(after, "hybridjobs_data_dir_free_bytes") > 0

    bogus = Call("GET", "/")
    send(json_server.port, bogus, sign(bogus, json_server.port, service="made-up-service"))
    labels = {value for _, pairs in scrape(json_server.url) for _, value in pairs}
    assert "made-up-service" not in labels, "a client's scope must not become a label"


def test_access_log_lines_say_who_did_what_and_how_it_went(json_server: LiveServer) -> None:
    braket = json_server.client("braket")
    answer = braket.create_job(**create_job_request(jobName=unique_name("access")))
    request_id = answer["ResponseMetadata"]["RequestId"]
    with pytest.raises(braket.exceptions.ValidationException) as refused:
        braket.create_job(**{**create_job_request(), "jobName": "bad name!"})
    refused_id = refused.value.response["ResponseMetadata"]["RequestId"]

    lines = {line.get("request_id"): line for line in json_lines(json_server)}
    created = lines[request_id]
    assert created["logger"] == "hybridjobs.access"
    assert (created["service"], created["operation"], created["method"]) == (
        "braket",
        "CreateJob",
        "POST",
    )
    assert created["status"] == 201 and created["account"] == "000000000000"
    assert created["latency_ms"] > 0
    assert created["time"].endswith("+00:00")
    assert (lines[refused_id]["operation"], lines[refused_id]["status"]) == ("CreateJob", 400)
    assert "bad name" not in json_server.log_text(), "the log must not carry request bodies"
    announced = ("hybridjobs listening", "web console", "data directory", "database:")
    other = [x for x in json_server.log_text().splitlines() if not x.startswith("{")]
    assert all(x.startswith(announced) for x in other), other


def test_metrics_need_a_signature_when_keys_are_configured(server_factory: ServerFactory) -> None:
    keyed = server_factory(env=KEYED_ENV)  # text log lines, the default
    call = Call("GET", "/metrics")
    assert send(keyed.port, call, {}).status == 403
    forged = sign(call, keyed.port, service="braket", secret="wrong")
    assert send(keyed.port, call, forged).status == 403
    signed = send(keyed.port, call, sign(call, keyed.port, service="braket"))
    assert signed.status == 200 and b"hybridjobs_requests_total" in signed.body
    lines = [x for x in keyed.log_text().splitlines() if " hybridjobs.access: " in x]
    assert any(" GET hybridjobs.metrics 200 " in x for x in lines), lines
    assert any(" GET hybridjobs.metrics 403 " in x for x in lines), lines

    scrapeable = server_factory(env=KEYED_ENV, extra_args=("--metrics-unsigned", "--no-access-log"))
    opened = send(scrapeable.port, call, {})
    assert opened.status == 200 and b"hybridjobs_jobs{" in opened.body
    status = send(scrapeable.port, Call("GET", "/_hybridjobs/status"), {})
    assert status.status == 403, "--metrics-unsigned opens /metrics only"
    assert "hybridjobs.access" not in scrapeable.log_text()
