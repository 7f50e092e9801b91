"""ValidationException for every model constraint and service rule, through boto3.

botocore checks only required members, types and ``min`` on the client; everything else
reaches the server, which must refuse it with a message naming the field and store nothing.
Requests that break a ``min`` or a required member go through a client with
``parameter_validation=False``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.config import Config
from support.braket import expect_error, newest_job_arn
from support.jobs import create_job_request
from support.server import LiveServer

S3 = {"dataSource": {"s3DataSource": {"s3Uri": "s3://b/in"}}}
JOB_ARN_OF_NOBODY = "arn:aws:braket:us-west-2:000000000000:job/00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def unchecked(server: LiveServer) -> Any:
    """A braket client that sends whatever it is given (no client-side validation)."""
    return server.client("braket", config=Config(parameter_validation=False))


CREATE_JOB_CASES: list[tuple[str, dict[str, Any], str]] = [
    # (case, overrides, the field the message must name)
    ("jobName pattern", {"jobName": "bad_name!"}, "jobName"),
    ("jobName pattern prefix only", {"jobName": "abc-"}, "jobName"),
    ("jobName too long", {"jobName": "a" * 51}, "jobName"),
    ("jobName empty", {"jobName": ""}, "jobName"),
    ("jobName missing", {"jobName": None}, "jobName"),
    ("roleArn pattern", {"roleArn": "not-an-arn"}, "roleArn"),
    ("roleArn of another service", {"roleArn": "arn:aws:s3:::bucket"}, "roleArn"),
    (
        "script s3Uri pattern",
        {"algorithmSpecification": {"scriptModeConfig": {"s3Uri": "ftp://b/k"}}},
        "algorithmSpecification.scriptModeConfig.s3Uri",
    ),
    (
        "script s3Uri that is not S3",
        {"algorithmSpecification": {"scriptModeConfig": {"s3Uri": "https://example.com/k"}}},
        "algorithmSpecification.scriptModeConfig.s3Uri",
    ),
    (
        "compressionType enum",
        {"algorithmSpecification": {"scriptModeConfig": {"compressionType": "ZIP"}}},
        "algorithmSpecification.scriptModeConfig.compressionType",
    ),
    (
        "no script and no image",
        {"algorithmSpecification": {"scriptModeConfig": None}},
        "algorithmSpecification",
    ),
    (
        "container image pattern",
        {"algorithmSpecification": {"containerImage": {"uri": "python:3.11"}}},
        "algorithmSpecification.containerImage.uri",
    ),
    (
        "output s3Path pattern",
        {"outputDataConfig": {"s3Path": "bucket/out"}},
        "outputDataConfig.s3Path",
    ),
    ("output kmsKeyId empty", {"outputDataConfig": {"kmsKeyId": ""}}, "outputDataConfig.kmsKeyId"),
    (
        "checkpoint s3Uri pattern",
        {"checkpointConfig": {"s3Uri": "file:///tmp/ckpt"}},
        "checkpointConfig.s3Uri",
    ),
    (
        "maxRuntimeInSeconds above 432000",
        {"stoppingCondition": {"maxRuntimeInSeconds": 432001}},
        "stoppingCondition.maxRuntimeInSeconds",
    ),
    (
        "maxRuntimeInSeconds 0",
        {"stoppingCondition": {"maxRuntimeInSeconds": 0}},
        "stoppingCondition.maxRuntimeInSeconds",
    ),
    (
        "instanceType enum",
        {"instanceConfig": {"instanceType": "ml.fake.large"}},
        "instanceConfig.instanceType",
    ),
    (
        "volumeSizeInGb 0",
        {"instanceConfig": {"volumeSizeInGb": 0}},
        "instanceConfig.volumeSizeInGb",
    ),
    ("instanceCount 0", {"instanceConfig": {"instanceCount": 0}}, "instanceConfig.instanceCount"),
    (
        "instanceCount not an integer",
        {"instanceConfig": {"instanceCount": "two"}},
        "instanceConfig.instanceCount",
    ),
    ("hyperparameter value too long", {"hyperParameters": {"k": "v" * 2501}}, "hyperParameters"),
    ("hyperparameter value empty", {"hyperParameters": {"k": ""}}, "hyperParameters"),
    ("hyperparameter key too long", {"hyperParameters": {"k" * 257: "v"}}, "hyperParameters"),
    (
        "more than 100 hyperparameters",
        {"hyperParameters": {f"k{i}": "v" for i in range(101)}},
        "hyperParameters",
    ),
    (
        "more than 20 input channels",
        {"inputDataConfig": [{"channelName": f"c{i}", **S3} for i in range(21)]},
        "inputDataConfig",
    ),
    (
        "channelName pattern",
        {"inputDataConfig": [{"channelName": "bad name", **S3}]},
        "inputDataConfig[0].channelName",
    ),
    (
        "channelName too long",
        {"inputDataConfig": [{"channelName": "c" * 65, **S3}]},
        "inputDataConfig[0].channelName",
    ),
    (
        "duplicate channel names",
        {"inputDataConfig": [{"channelName": "data", **S3}, {"channelName": "data", **S3}]},
        "inputDataConfig[1].channelName",
    ),
    (
        "input s3Uri pattern",
        {
            "inputDataConfig": [
                {"channelName": "c", "dataSource": {"s3DataSource": {"s3Uri": "b/k"}}}
            ]
        },
        "inputDataConfig[0].dataSource.s3DataSource.s3Uri",
    ),
    (
        "device neither ARN nor local",
        {"deviceConfig": {"device": "my-simulator"}},
        "deviceConfig.device",
    ),
    (
        "device local without a name",
        {"deviceConfig": {"device": "local:braket"}},
        "deviceConfig.device",
    ),
    (
        "device ARN of a job",
        {"deviceConfig": {"device": JOB_ARN_OF_NOBODY}},
        "deviceConfig.device",
    ),
    (
        "device too long",
        {"deviceConfig": {"device": "local:a/" + "b" * 250}},
        "deviceConfig.device",
    ),
    (
        "device ARN that is not in the catalog",
        {"deviceConfig": {"device": "arn:aws:braket:::device/quantum-simulator/amazon/sv9"}},
        "deviceConfig.device",
    ),
    ("clientToken too long", {"clientToken": "t" * 65}, "clientToken"),
    (
        "more than one association",
        {
            "associations": [
                {
                    "arn": "arn:aws:braket:us-west-2:123456789012:reservation/a",
                    "type": "RESERVATION_TIME_WINDOW_ARN",
                }
            ]
            * 2
        },
        "associations",
    ),
    (
        "association type enum",
        {
            "associations": [
                {"arn": "arn:aws:braket:us-west-2:123456789012:reservation/a", "type": "OTHER"}
            ]
        },
        "associations[0].type",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [case[1:] for case in CREATE_JOB_CASES],
    ids=[case[0] for case in CREATE_JOB_CASES],
)
def test_create_job_is_refused(
    braket: Any, unchecked: Any, overrides: dict[str, Any], field: str
) -> None:
    before = newest_job_arn(braket)

    response = expect_error(
        unchecked.create_job, "ValidationException", 400, **create_job_request(**overrides)
    )

    message = response["Error"]["Message"]
    assert field in message, message
    assert newest_job_arn(braket) == before, "a refused CreateJob stored a job"


def test_a_refused_request_does_not_consume_its_client_token(braket: Any) -> None:
    bad = create_job_request(jobName="bad_name!")
    expect_error(braket.create_job, "ValidationException", 400, **bad)

    arn = braket.create_job(**{**bad, "jobName": "good-name"})["jobArn"]

    assert newest_job_arn(braket) == arn


def test_every_problem_is_reported_at_once(unchecked: Any) -> None:
    request = create_job_request(
        jobName="bad_name!", roleArn="nope", instanceConfig={"volumeSizeInGb": 0}
    )

    message = expect_error(unchecked.create_job, "ValidationException", 400, **request)["Error"][
        "Message"
    ]

    for field in ("jobName", "roleArn", "instanceConfig.volumeSizeInGb"):
        assert field in message


def jn(operator: str = "EQUAL", *values: str) -> dict[str, Any]:
    return {"name": "jobName", "operator": operator, "values": list(values) or ["x"]}


SEARCH_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("more than 10 filters", {"filters": [jn()] * 11}, "filters"),
    (
        "a filter with 11 values",
        {"filters": [jn("EQUAL", *[f"v{i}" for i in range(11)])]},
        "filters[0].values",
    ),
    (
        "a filter with no values",
        {"filters": [{"name": "jobName", "operator": "EQUAL", "values": []}]},
        "filters[0].values",
    ),
    ("a value too long", {"filters": [jn("EQUAL", "v" * 257)]}, "filters[0].values[0]"),
    ("maxResults 0", {"filters": [], "maxResults": 0}, "maxResults"),
    ("maxResults 101", {"filters": [], "maxResults": 101}, "maxResults"),
    ("bad operator", {"filters": [jn("LIKE")]}, "filters[0].operator"),
    (
        "unknown filter name",
        {"filters": [{"name": "color", "operator": "EQUAL", "values": ["red"]}]},
        "filters[0].name",
    ),
    (
        "empty filter name",
        {"filters": [{"name": "", "operator": "EQUAL", "values": ["red"]}]},
        "filters[0].name",
    ),
    (
        "operator the name does not support",
        {"filters": [{"name": "deviceArn", "operator": "CONTAINS", "values": ["x"]}]},
        "filters[0].operator",
    ),
    (
        "jobArn with CONTAINS",
        {"filters": [{"name": "jobArn", "operator": "CONTAINS", "values": ["x"]}]},
        "filters[0].operator",
    ),
    (
        "BETWEEN with one value",
        {
            "filters": [
                {"name": "createdAt", "operator": "BETWEEN", "values": ["2024-01-01T00:00:00Z"]}
            ]
        },
        "filters[0].values",
    ),
    (
        "LT with two values",
        {
            "filters": [
                {
                    "name": "createdAt",
                    "operator": "LT",
                    "values": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"],
                }
            ]
        },
        "filters[0].values",
    ),
    (
        "createdAt that is not a date",
        {"filters": [{"name": "createdAt", "operator": "GT", "values": ["yesterday"]}]},
        "filters[0].values",
    ),
    (
        "jobArn combined with another filter",
        {"filters": [{"name": "jobArn", "operator": "EQUAL", "values": [JOB_ARN_OF_NOBODY]}, jn()]},
        "filters",
    ),
    ("filters missing", {}, "filters"),
    ("bad nextToken", {"filters": [], "nextToken": "not-a-token"}, "nextToken"),
    (
        "filter missing its operator",
        {"filters": [{"name": "jobName", "values": ["x"]}]},
        "filters[0].operator",
    ),
]


@pytest.mark.parametrize(
    ("params", "field"), [case[1:] for case in SEARCH_CASES], ids=[case[0] for case in SEARCH_CASES]
)
def test_search_jobs_is_refused(unchecked: Any, params: dict[str, Any], field: str) -> None:
    message = expect_error(unchecked.search_jobs, "ValidationException", 400, **params)["Error"][
        "Message"
    ]
    assert field in message, message


def test_next_token_of_another_search_is_refused(braket: Any) -> None:
    for _ in range(2):
        braket.create_job(**create_job_request())
    token = braket.search_jobs(filters=[], maxResults=1)["nextToken"]

    message = expect_error(
        braket.search_jobs,
        "ValidationException",
        400,
        filters=[jn("CONTAINS", "a")],
        maxResults=1,
        nextToken=token,
    )["Error"]["Message"]

    assert "nextToken" in message


@pytest.mark.parametrize(
    ("operation", "params", "field"),
    [
        ("get_job", {"jobArn": "not-an-arn"}, "jobArn"),
        ("get_job", {"jobArn": "arn:aws:braket:us-west-2:000000000000:quantum-task/x"}, "jobArn"),
        (
            "get_job",
            {"jobArn": JOB_ARN_OF_NOBODY, "additionalAttributeNames": ["Bogus"]},
            "additionalAttributeNames[0]",
        ),
        ("cancel_job", {"jobArn": "not-an-arn"}, "jobArn"),
        ("tag_resource", {"resourceArn": "not-an-arn", "tags": {"a": "b"}}, "resourceArn"),
        ("tag_resource", {"resourceArn": JOB_ARN_OF_NOBODY}, "tags"),
        ("untag_resource", {"resourceArn": "not-an-arn", "tagKeys": ["a"]}, "resourceArn"),
        ("untag_resource", {"resourceArn": JOB_ARN_OF_NOBODY}, "tagKeys"),
        ("list_tags_for_resource", {"resourceArn": "arn:aws:s3:::bucket/key"}, "resourceArn"),
    ],
)
def test_other_operations_are_refused(
    unchecked: Any, operation: str, params: dict[str, Any], field: str
) -> None:
    message = expect_error(getattr(unchecked, operation), "ValidationException", 400, **params)[
        "Error"
    ]["Message"]
    assert field in message, message


def post_raw(server: LiveServer, path: str, body: bytes) -> tuple[int, str, dict[str, Any]]:
    """POST ``body`` unsigned (the server accepts any caller when no keys are configured);
    the status, ``x-amzn-ErrorType`` and JSON body of the answer."""
    request = urllib.request.Request(
        server.url + path, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, "", json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers["x-amzn-ErrorType"], json.loads(error.read())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "JSON object"),
        (
            json.dumps(create_job_request(deviceConfig="local:braket/default")).encode(),
            "deviceConfig",
        ),
        (
            json.dumps(create_job_request(instanceConfig={"volumeSizeInGb": True})).encode(),
            "instanceConfig.volumeSizeInGb",
        ),
        (json.dumps(create_job_request(hyperParameters=["a"])).encode(), "hyperParameters"),
    ],
    ids=["not json", "not an object", "structure as string", "boolean as integer", "list as map"],
)
def test_malformed_bodies_are_refused(
    server: LiveServer, braket: Any, body: bytes, field: str
) -> None:
    before = newest_job_arn(braket)

    status, code, answer = post_raw(server, "/job", body)

    assert (status, code, answer["__type"]) == (400, "ValidationException", "ValidationException")
    assert field in answer["message"], answer
    assert newest_job_arn(braket) == before


def _create(**overrides: Any) -> bytes:
    return json.dumps(create_job_request(**overrides)).encode()


def _with(path: list[str], value: Any) -> bytes:
    """A CreateJob body with ``value`` set at ``path`` (raw: nulls and all)."""
    request: dict[str, Any] = create_job_request()
    target = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(request).encode()


NESTED = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (NESTED.encode(), "JSON"),
        (
            _create().replace(
                b'"hyperParameters": {}', f'"hyperParameters": {{"a": {NESTED}}}'.encode()
            )
            if b'"hyperParameters": {}' in _create()
            else _create()[:-1] + f', "hyperParameters": {{"a": {NESTED}}}}}'.encode(),
            "JSON",
        ),
        (_with(["instanceConfig", "instanceCount"], None), "instanceConfig.instanceCount"),
        (_with(["stoppingCondition"], None), "stoppingCondition"),
        (_with(["stoppingCondition"], {"a": 1}), "stoppingCondition"),
        (_with(["algorithmSpecification", "scriptModeConfig", "entryPoint"], ""), "entryPoint"),
        (
            _with(["algorithmSpecification", "scriptModeConfig", "entryPoint"], "a\u0000b"),
            "entryPoint",
        ),
        (
            _with(["algorithmSpecification", "scriptModeConfig", "entryPoint"], "a" * 100_000),
            "entryPoint",
        ),
        (_with(["instanceConfig", "volumeSizeInGb"], 2**63), "volumeSizeInGb"),
        (
            _with(["checkpointConfig"], {"s3Uri": "s3://b/c", "localPath": "/opt/\u0000x"}),
            "localPath",
        ),
        (
            _with(
                ["inputDataConfig"],
                [{"channelName": "..", "dataSource": {"s3DataSource": {"s3Uri": "s3://b/k"}}}],
            ),
            "channelName",
        ),
        (_with(["tags"], {"team": "x" * 100_000}), "tags"),
    ],
    ids=[
        "nested body",
        "nested hyperparameter",
        "null instance count",
        "null stopping condition",
        "unknown stopping condition",
        "empty entry point",
        "NUL in entry point",
        "huge entry point",
        "huge volume",
        "NUL in checkpoint path",
        "dot-dot channel",
        "huge tag value",
    ],
)
def test_bad_create_job_bodies_get_a_4xx_and_store_nothing(
    server: LiveServer, braket: Any, body: bytes, field: str
) -> None:
    before = newest_job_arn(braket)

    status, code, answer = post_raw(server, "/job", body)

    assert status == 400 and code == "ValidationException", (status, code, answer)
    assert field in answer["message"], answer
    assert newest_job_arn(braket) == before
