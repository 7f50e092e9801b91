"""The HTTP surface around the operations: errors for what we do not serve, health, the
AWS CLI as a second real client, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.jobs import create_job_request
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LiveServer, ServerFactory

AWS_CLI = Path(sys.executable).with_name("aws")


def raw(
    server: LiveServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, _headers(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _headers(error.headers), error.read()


class _Headers(dict[str, str]):
    """Response headers looked up case-insensitively, as HTTP defines them."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


def _headers(message: Any) -> _Headers:
    return _Headers({name.lower(): value for name, value in message.items()})


def assert_aws_error(headers: dict[str, str], body: bytes, code: str) -> dict[str, Any]:
    assert headers["x-amzn-ErrorType"] == code
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-RequestId"]
    document: dict[str, Any] = json.loads(body)
    assert document["__type"] == code
    assert document["message"]
    return document


def test_health(server: LiveServer) -> None:
    status, headers, body = raw(server, "GET", "/_hybridjobs/health")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/"),
        ("POST", "/jobs/extra"),
        ("PATCH", "/job"),
        ("DELETE", "/job/x"),
    ],
)
def test_unknown_paths_answer_with_an_aws_error(server: LiveServer, method: str, path: str) -> None:
    status, headers, body = raw(
        server, method, path, b"{}" if method in ("POST", "PATCH") else None
    )

    assert status == 404
    assert b"<html" not in body.lower()
    document = assert_aws_error(headers, body, "UnknownOperationException")
    assert path in document["message"]


def test_every_modeled_braket_operation_is_implemented() -> None:
    """Braket's whole model is served (the spending limits were the last); a botocore upgrade
    that adds an operation fails here, and until it is built that operation answers
    NotImplementedException (tested below on the Logs surface, which keeps the same path)."""
    import botocore.session

    from hybridjobs.services.braket import IMPLEMENTED

    model = botocore.session.get_session().get_service_model("braket")
    assert sorted(set(model.operation_names) - set(IMPLEMENTED)) == []


def test_unimplemented_operations_answer_with_an_aws_error(server: LiveServer) -> None:
    logs = server.client("logs", region="us-west-2")
    with pytest.raises(ClientError) as raised:
        logs.describe_destinations()

    response = raised.value.response
    assert response["Error"]["Code"] == "NotImplementedException"
    # A sender fault, so that clients do not retry it as they would a 5xx.
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].startswith(
        "NotImplementedException"
    )
    assert "hybridjobs does not implement" in response["Error"]["Message"]


def test_an_unserved_aws_service_answers_with_an_aws_error(server: LiveServer) -> None:
    kinesis = server.client("kinesis", region="us-west-2")
    with pytest.raises(ClientError) as raised:
        kinesis.list_streams()
    response = raised.value.response
    assert response["Error"]["Code"] == "UnknownOperationException"
    assert "kinesis" in response["Error"]["Message"]
    # The error speaks the addressed service's protocol (JSON 1.1 here), status included.
    assert 400 <= response["ResponseMetadata"]["HTTPStatusCode"] < 500


def test_every_response_carries_a_request_id(braket: Any) -> None:
    first = braket.search_jobs(filters=[])["ResponseMetadata"]["RequestId"]
    second = braket.search_jobs(filters=[])["ResponseMetadata"]["RequestId"]
    assert first and second and first != second


# -- the AWS CLI ---------------------------------------------------------------------------


def aws_cli(server: LiveServer, *args: str) -> Any:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    completed = subprocess.run(
        [
            str(AWS_CLI),
            "braket",
            *args,
            "--endpoint-url",
            server.url,
            "--region",
            "us-west-2",
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_aws_cli_search_and_get(server: LiveServer, braket: Any) -> None:
    arn = braket.create_job(**create_job_request(jobName="from-boto3"))["jobArn"]

    found = aws_cli(server, "search-jobs", "--filters", "[]")
    job = aws_cli(server, "get-job", "--job-arn", arn)

    assert arn in [j["jobArn"] for j in found["jobs"]]
    assert job["jobArn"] == arn
    assert job["jobName"] == "from-boto3"
    assert job["status"] == "QUEUED"


# -- stopping -----------------------------------------------------------------------------


def test_sigterm_stops_the_server_cleanly(server_factory: ServerFactory) -> None:
    live = server_factory()
    live.client("braket").create_job(**create_job_request())

    code = live.stop()

    assert code == 0
    assert "hybridjobs stopped" in live.log_text()
    assert not live.running
