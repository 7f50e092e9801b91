"""Round trips through botocore's own rest-json serializer and parser.

Requests: botocore serializes the parameters exactly as boto3 would put them on the wire;
our router and parser must give the same parameters back. Responses: our serializer's
output, read by botocore's parser, must equal what the service returned.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

from hybridjobs import errors
from hybridjobs.services.braket import IMPLEMENTED
from hybridjobs.wire import botomodel, restjson
from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.routing import RestRouter
from hybridjobs.wire.validate import validate

JOB_ARN = "arn:aws:braket:us-west-2:123456789012:job/2dcad83b-37d8-4093-a52f-8afb69d24116"
TASK_ARN = "arn:aws:braket:us-west-2:123456789012:quantum-task/6a1b2c3d-0000-4000-8000-00000000abcd"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
BELL_ACTION = (
    '{"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}, '
    '"source": "OPENQASM 3.0;\\nqubit[2] q;\\nh q[0];\\ncnot q[0], q[1];", "inputs": {}}'
)
REQUEST_ID = "6f1c5a8e-0000-4000-8000-000000000001"
GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
LIMIT_ARN = (
    "arn:aws:braket:us-west-2:123456789012:spending-limit/0b6f5a3e-0000-4000-8000-00000000beef"
)
UTC = datetime.UTC


@pytest.fixture(scope="module")
def model() -> ServiceModel:
    return botomodel.service_model("braket")


@pytest.fixture(scope="module")
def router(model: ServiceModel) -> RestRouter:
    return RestRouter(model)


def ms(
    year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int
) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def full_create_job() -> dict[str, Any]:
    """A CreateJob request that sets every member of the operation."""
    return {
        "clientToken": "3c1d1d0e-1f6e-4d8e-9f53-2f8d5f0f4a11",
        "algorithmSpecification": {
            "scriptModeConfig": {
                "entryPoint": "pkg.module:main",
                "s3Uri": "s3://bucket/prefix/source.tar.gz",
                "compressionType": "GZIP",
            },
            "containerImage": {
                "uri": "292282985366.dkr.ecr.us-west-2.amazonaws.com/amazon-braket-base-jobs:latest"
            },
        },
        "inputDataConfig": [
            {
                "channelName": "input-data",
                "contentType": "application/json",
                "dataSource": {"s3DataSource": {"s3Uri": "s3://bucket/input/"}},
            },
            {
                "channelName": "second_channel.v2",
                "dataSource": {"s3DataSource": {"s3Uri": "s3://bucket/more"}},
            },
        ],
        "outputDataConfig": {"kmsKeyId": "alias/my key", "s3Path": "s3://bucket/output"},
        "checkpointConfig": {"localPath": "/opt/jobs/checkpoints", "s3Uri": "s3://bucket/ckpt"},
        "jobName": "my-job-1",
        "roleArn": "arn:aws:iam::123456789012:role/service-role/AmazonBraketJobsExecutionRole",
        "stoppingCondition": {"maxRuntimeInSeconds": 3600},
        "instanceConfig": {
            "instanceType": "ml.m5.xlarge",
            "volumeSizeInGb": 30,
            "instanceCount": 2,
        },
        "hyperParameters": {"shots": "100", "note": "a & b = c / d?", "unicode": "θ → π"},
        "deviceConfig": {"device": "arn:aws:braket:::device/quantum-simulator/amazon/sv1"},
        "tags": {"team": "qml", "with space": "value/with:colon"},
        "associations": [
            {
                "arn": "arn:aws:braket:us-west-2:123456789012:reservation/abc",
                "type": "RESERVATION_TIME_WINDOW_ARN",
            }
        ],
    }


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("CreateJob", full_create_job()),
    (
        "CreateJob",
        {
            "clientToken": "t",
            "algorithmSpecification": {
                "scriptModeConfig": {"entryPoint": "m", "s3Uri": "s3://b/k"}
            },
            "outputDataConfig": {"s3Path": "s3://b/o"},
            "jobName": "a",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
            "deviceConfig": {"device": "local:braket/default"},
        },
    ),
    ("GetJob", {"jobArn": JOB_ARN}),
    ("GetJob", {"jobArn": JOB_ARN, "additionalAttributeNames": ["QueueInfo"]}),
    ("CancelJob", {"jobArn": JOB_ARN}),
    ("SearchJobs", {"filters": []}),
    (
        "SearchJobs",
        {
            "filters": [
                {"name": "jobName", "values": ["a", "b%_"], "operator": "CONTAINS"},
                {
                    "name": "createdAt",
                    "values": ["2024-01-02T03:04:05.678Z", "2024-02-02T00:00:00Z"],
                    "operator": "BETWEEN",
                },
            ],
            "maxResults": 7,
            "nextToken": "eyJzZXEiOiAxfQ==",
        },
    ),
    ("TagResource", {"resourceArn": JOB_ARN, "tags": {"a": "1", "k e y": "v&l=u/e"}}),
    ("UntagResource", {"resourceArn": JOB_ARN, "tagKeys": ["a", "k e y", "x&y=z", "ü"]}),
    ("UntagResource", {"resourceArn": JOB_ARN, "tagKeys": ["only"]}),
    ("ListTagsForResource", {"resourceArn": JOB_ARN}),
    ("ListTagsForResource", {"resourceArn": TASK_ARN}),
    (
        "CreateQuantumTask",
        {
            "clientToken": "c0ffee00-0000-4000-8000-000000000000",
            "deviceArn": SV1,
            "deviceParameters": '{"braketSchemaHeader": {"name": "x", "version": "1"}}',
            "shots": 100,
            "outputS3Bucket": "amazon-braket-us-west-2-123456789012",
            "outputS3KeyPrefix": "tasks",
            "action": BELL_ACTION,
            "tags": {"k": "v"},
            "jobToken": "secret-token",
            "associations": [
                {
                    "arn": "arn:aws:braket:us-west-2:123456789012:reservation/r1",
                    "type": "RESERVATION_TIME_WINDOW_ARN",
                }
            ],
            "experimentalCapabilities": {"enabled": "ALL"},
        },
    ),
    ("GetQuantumTask", {"quantumTaskArn": TASK_ARN, "additionalAttributeNames": ["QueueInfo"]}),
    ("CancelQuantumTask", {"quantumTaskArn": TASK_ARN, "clientToken": "tok"}),
    (
        "SearchQuantumTasks",
        {
            "filters": [
                {"name": "jobArn", "values": [JOB_ARN], "operator": "EQUAL"},
                {"name": "createdAt", "values": ["2024-01-02T03:04:05Z"], "operator": "GTE"},
            ],
            "maxResults": 100,
        },
    ),
    ("GetDevice", {"deviceArn": SV1}),
    ("GetDevice", {"deviceArn": "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"}),
    (
        "SearchDevices",
        {"filters": [{"name": "deviceArn", "values": [SV1]}], "maxResults": 3, "nextToken": "t"},
    ),
    (
        "CreateSpendingLimit",
        {
            "clientToken": "5f2e9a40-0000-4000-8000-000000000001",
            "deviceArn": GARNET,
            "spendingLimit": "100.50",
            "timePeriod": {
                "startAt": 1704164645,
                "endAt": 1706745600.5,
            },
            "tags": {"team": "qml"},
        },
    ),
    ("CreateSpendingLimit", {"clientToken": "t", "deviceArn": GARNET, "spendingLimit": "5"}),
    (
        "UpdateSpendingLimit",
        {
            "spendingLimitArn": LIMIT_ARN,
            "clientToken": "u",
            "spendingLimit": "7.25",
            "timePeriod": {
                "startAt": 1704164645,
                "endAt": 1709251200,
            },
        },
    ),
    ("DeleteSpendingLimit", {"spendingLimitArn": LIMIT_ARN}),
    (
        "SearchSpendingLimits",
        {
            "filters": [{"name": "deviceArn", "values": [GARNET], "operator": "EQUAL"}],
            "maxResults": 5,
            "nextToken": "5",
        },
    ),
]


def wire_request(serialized: dict[str, Any]) -> WireRequest:
    """What the ASGI app builds from the HTTP request botocore would send."""
    query_string = percent_encode_sequence(serialized["query_string"])
    body = serialized["body"]
    return WireRequest(
        method=serialized["method"],
        raw_path=serialized["url_path"],
        query=WireRequest.parse_query(query_string),
        headers={k.lower(): v for k, v in serialized["headers"].items()},
        body=body if isinstance(body, bytes) else body.encode(),
        region="us-west-2",
    )


def test_every_implemented_operation_has_request_cases() -> None:
    assert {name for name, _ in REQUESTS} == set(IMPLEMENTED)


@pytest.mark.parametrize(
    ("operation_name", "params"), REQUESTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(REQUESTS)]
)
def test_request_round_trip(
    model: ServiceModel, router: RestRouter, operation_name: str, params: dict[str, Any]
) -> None:
    operation = model.operation_model(operation_name)
    serialized = create_serializer("rest-json", include_validation=True).serialize_to_request(
        params, operation
    )
    request = wire_request(serialized)

    match = router.match(request.method, request.raw_path, request.query)

    assert match is not None, f"{request.method} {request.raw_path} matched nothing"
    assert match.operation.name == operation_name
    parsed = restjson.parse_request(match.operation, request, match.labels)
    assert parsed == params
    assert (
        validate(operation.input_shape, parsed, lambda s: botomodel.enum_values("braket", s)) == []
    )


def botocore_parse(
    operation: OperationModel, status: int, headers: dict[str, str], body: bytes
) -> Any:
    """Parse a response the way botocore's endpoint does, modeled error members included."""
    parser = create_parser("rest-json")
    response = {"status_code": status, "headers": HeadersDict(headers), "body": body}
    parsed = parser.parse(response, operation.output_shape)
    if status >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = operation.service_model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    return parsed


GET_JOB_OUTPUT: dict[str, Any] = {
    **{k: v for k, v in full_create_job().items() if k not in ("clientToken", "tags")},
    "status": "RUNNING",
    "jobArn": JOB_ARN,
    "failureReason": "AlgorithmError: boom, exit code: 1",
    "createdAt": ms(2024, 1, 2, 3, 4, 5, 678000),
    "startedAt": ms(2024, 1, 2, 3, 4, 6, 0),
    "endedAt": ms(2024, 1, 2, 3, 5, 0, 1000),
    "billableDuration": 54000,
    "events": [
        {
            "eventType": "QUEUED_FOR_EXECUTION",
            "timeOfEvent": ms(2024, 1, 2, 3, 4, 5, 678000),
            "message": "queued",
        },
        {"eventType": "RUNNING", "timeOfEvent": ms(2024, 1, 2, 3, 4, 6, 0), "message": ""},
    ],
    "tags": {"team": "qml"},
    "queueInfo": {"queue": "JOBS_QUEUE", "position": "None", "message": "not queued"},
}

RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("CreateJob", {"jobArn": JOB_ARN}),
    ("GetJob", GET_JOB_OUTPUT),
    ("CancelJob", {"jobArn": JOB_ARN, "cancellationStatus": "CANCELLING"}),
    (
        "SearchJobs",
        {
            "jobs": [
                {
                    "status": "COMPLETED",
                    "jobArn": JOB_ARN,
                    "jobName": "my-job-1",
                    "device": "local:braket/default",
                    "createdAt": ms(2024, 1, 2, 3, 4, 5, 678000),
                    "startedAt": ms(2024, 1, 2, 3, 4, 6, 0),
                    "endedAt": ms(2024, 1, 2, 3, 5, 0, 0),
                    "tags": {"a": "b"},
                },
                {
                    "status": "QUEUED",
                    "jobArn": JOB_ARN + "0",
                    "jobName": "other",
                    "device": "arn:aws:braket:::device/quantum-simulator/amazon/sv1",
                    "createdAt": ms(2024, 1, 1, 0, 0, 0, 0),
                    "tags": {},
                },
            ],
            "nextToken": "opaque-token",
        },
    ),
    ("SearchJobs", {"jobs": []}),
    ("TagResource", {}),
    ("UntagResource", {}),
    ("ListTagsForResource", {"tags": {"a": "1", "k e y": "v"}}),
    ("CreateQuantumTask", {"quantumTaskArn": TASK_ARN}),
    (
        "GetQuantumTask",
        {
            "quantumTaskArn": TASK_ARN,
            "status": "COMPLETED",
            "deviceArn": SV1,
            "deviceParameters": "{}",
            "shots": 100,
            "outputS3Bucket": "bucket",
            "outputS3Directory": "tasks/6a1b2c3d",
            "createdAt": ms(2024, 1, 2, 3, 4, 5, 678000),
            "endedAt": ms(2024, 1, 2, 3, 4, 5, 999000),
            "tags": {"k": "v"},
            "jobArn": JOB_ARN,
            "queueInfo": {
                "queue": "QUANTUM_TASKS_QUEUE",
                "position": "None",
                "queuePriority": "Priority",
                "message": "done",
            },
            "numSuccessfulShots": 100,
            "actionMetadata": {
                "actionType": "braket.ir.openqasm.program",
                "programCount": 1,
                "executableCount": 1,
            },
        },
    ),
    (
        "GetQuantumTask",
        {
            "quantumTaskArn": TASK_ARN,
            "status": "FAILED",
            "failureReason": "ValidationException: nope",
            "deviceArn": SV1,
            "deviceParameters": "{}",
            "shots": 0,
            "outputS3Bucket": "bucket",
            "outputS3Directory": "tasks/x",
            "createdAt": ms(2024, 1, 2, 3, 4, 5, 0),
        },
    ),
    ("CancelQuantumTask", {"quantumTaskArn": TASK_ARN, "cancellationStatus": "CANCELLED"}),
    (
        "SearchQuantumTasks",
        {
            "quantumTasks": [
                {
                    "quantumTaskArn": TASK_ARN,
                    "status": "QUEUED",
                    "deviceArn": SV1,
                    "shots": 10,
                    "outputS3Bucket": "bucket",
                    "outputS3Directory": "tasks/x",
                    "createdAt": ms(2024, 1, 2, 3, 4, 5, 0),
                    "tags": {},
                }
            ],
            "nextToken": "more",
        },
    ),
    (
        "GetDevice",
        {
            "deviceArn": SV1,
            "deviceName": "SV1",
            "providerName": "Amazon Braket",
            "deviceType": "SIMULATOR",
            "deviceStatus": "ONLINE",
            "deviceCapabilities": '{"braketSchemaHeader": {}}',
            "deviceQueueInfo": [
                {"queue": "QUANTUM_TASKS_QUEUE", "queueSize": "3", "queuePriority": "Normal"},
                {"queue": "JOBS_QUEUE", "queueSize": ">1000"},
            ],
        },
    ),
    (
        "SearchDevices",
        {
            "devices": [
                {
                    "deviceArn": SV1,
                    "deviceName": "SV1",
                    "providerName": "Amazon Braket",
                    "deviceType": "SIMULATOR",
                    "deviceStatus": "ONLINE",
                }
            ]
        },
    ),
    ("CreateSpendingLimit", {"spendingLimitArn": LIMIT_ARN}),
    ("UpdateSpendingLimit", {}),
    ("DeleteSpendingLimit", {}),
    (
        "SearchSpendingLimits",
        {
            "spendingLimits": [
                {
                    "spendingLimitArn": LIMIT_ARN,
                    "deviceArn": GARNET,
                    "timePeriod": {
                        "startAt": ms(2024, 1, 2, 3, 4, 5, 0),
                        "endAt": ms(9999, 12, 31, 23, 59, 59, 0),
                    },
                    "spendingLimit": "100.50",
                    "queuedSpend": "0.45",
                    "totalSpend": "12.00",
                    "createdAt": ms(2024, 1, 2, 3, 4, 5, 678000),
                    "updatedAt": ms(2024, 1, 3, 0, 0, 0, 0),
                    "tags": {"team": "qml"},
                }
            ],
            "nextToken": "1",
        },
    ),
]


def test_every_implemented_operation_has_response_cases() -> None:
    assert {name for name, _ in RESPONSES} == set(IMPLEMENTED)


@pytest.mark.parametrize(
    ("operation_name", "output"), RESPONSES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RESPONSES)]
)
def test_response_round_trip(
    model: ServiceModel, operation_name: str, output: dict[str, Any]
) -> None:
    operation = model.operation_model(operation_name)

    response = restjson.serialize_response(operation, output, REQUEST_ID)

    assert response.status == operation.http.get("responseCode", 200)
    parsed = botocore_parse(operation, response.status, response.headers, response.body)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == REQUEST_ID
    assert parsed == output


def test_create_job_answers_201(model: ServiceModel) -> None:
    response = restjson.serialize_response(
        model.operation_model("CreateJob"), {"jobArn": JOB_ARN}, REQUEST_ID
    )
    assert response.status == 201


def test_timestamps_are_iso8601_strings_truncated_to_milliseconds(model: ServiceModel) -> None:
    output = {**GET_JOB_OUTPUT, "createdAt": ms(2024, 1, 2, 3, 4, 5, 678999)}
    response = restjson.serialize_response(model.operation_model("GetJob"), output, REQUEST_ID)

    assert b'"createdAt": "2024-01-02T03:04:05.678Z"' in response.body
    parsed = botocore_parse(
        model.operation_model("GetJob"), response.status, response.headers, response.body
    )
    assert parsed["createdAt"] == ms(2024, 1, 2, 3, 4, 5, 678000)


def test_unset_members_are_left_out(model: ServiceModel) -> None:
    output = {"jobArn": JOB_ARN, "status": "QUEUED", "startedAt": None, "failureReason": None}
    response = restjson.serialize_response(model.operation_model("GetJob"), output, REQUEST_ID)
    assert b"startedAt" not in response.body
    assert b"failureReason" not in response.body


MODELED_ERRORS = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type)
    and issubclass(cls, errors.ServiceError)
    and cls.code in botomodel.service_model("braket").shape_names
]


@pytest.mark.parametrize("error_class", MODELED_ERRORS, ids=lambda c: c.code)
def test_error_round_trip(model: ServiceModel, error_class: type[errors.ServiceError]) -> None:
    operation = model.operation_model("GetJob")
    error = error_class(f"something about {error_class.code} went wrong: jobArn")

    response = restjson.serialize_error(error, REQUEST_ID)

    assert response.status == error_class.status
    assert response.headers["x-amzn-ErrorType"] == error_class.code
    parsed = botocore_parse(operation, response.status, response.headers, response.body)
    assert parsed["Error"]["Code"] == error_class.code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == error_class.status


def test_validation_exception_reason_is_parsed(model: ServiceModel) -> None:
    error = errors.ValidationException("bad program set", reason="ProgramSetValidationFailed")

    response = restjson.serialize_error(error, REQUEST_ID)

    parsed = botocore_parse(
        model.operation_model("CreateJob"), response.status, response.headers, response.body
    )
    assert parsed["Error"]["Code"] == "ValidationException"
    assert parsed["Error"]["Message"] == "bad program set"
    assert parsed["reason"] == "ProgramSetValidationFailed"


def test_unmodeled_error_code_still_parses(model: ServiceModel) -> None:
    error = errors.UnknownOperationException("No Braket operation matches GET /nope.")

    response = restjson.serialize_error(error, REQUEST_ID)

    parsed = botocore_parse(
        model.operation_model("GetJob"), response.status, response.headers, response.body
    )
    assert parsed["Error"] == {
        "Code": "UnknownOperationException",
        "Message": "No Braket operation matches GET /nope.",
    }
