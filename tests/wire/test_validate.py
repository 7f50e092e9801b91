"""``wire.validate``: every constraint kind of the model, each problem naming its field."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import Shape
from support.jobs import create_job_request

from hybridjobs.wire import botomodel
from hybridjobs.wire.validate import validate

MODEL = botomodel.service_model("braket")
CREATE_JOB = MODEL.operation_model("CreateJob").input_shape
SEARCH_JOBS = MODEL.operation_model("SearchJobs").input_shape
GET_JOB = MODEL.operation_model("GetJob").input_shape


def served_enums(shape: Shape) -> tuple[str, ...]:
    return botomodel.enum_values("braket", shape)


def model_enums(shape: Shape) -> tuple[str, ...]:
    return tuple(shape.enum)


def problems_of(shape: Shape, params: dict[str, Any]) -> list[str]:
    return validate(shape, params, served_enums)


def search(**overrides: Any) -> dict[str, Any]:
    return {"filters": [], **overrides}


def test_a_valid_request_has_no_problems() -> None:
    assert problems_of(CREATE_JOB, create_job_request()) == []
    assert problems_of(SEARCH_JOBS, search()) == []


CASES: list[tuple[str, Shape, dict[str, Any], str, str]] = [
    # (case, shape, params, field path, words of the reason)
    ("required top level", CREATE_JOB, create_job_request(roleArn=None), "roleArn", "is required"),
    (
        "required nested",
        CREATE_JOB,
        create_job_request(instanceConfig={"volumeSizeInGb": None}),
        "instanceConfig.volumeSizeInGb",
        "is required",
    ),
    (
        "required in a list item",
        SEARCH_JOBS,
        search(filters=[{"name": "jobName", "values": ["a"]}]),
        "filters[0].operator",
        "is required",
    ),
    ("type string", CREATE_JOB, create_job_request(jobName=7), "jobName", "must be a string"),
    (
        "type integer",
        CREATE_JOB,
        create_job_request(instanceConfig={"volumeSizeInGb": "30"}),
        "instanceConfig.volumeSizeInGb",
        "must be an integer",
    ),
    (
        "type integer refuses booleans",
        CREATE_JOB,
        create_job_request(instanceConfig={"instanceCount": True}),
        "instanceConfig.instanceCount",
        "must be an integer",
    ),
    (
        "type structure",
        CREATE_JOB,
        create_job_request(deviceConfig="sv1"),
        "deviceConfig",
        "must be an object",
    ),
    ("type list", SEARCH_JOBS, search(filters={"name": "x"}), "filters", "must be a list"),
    (
        "type map",
        CREATE_JOB,
        create_job_request(hyperParameters=["a"]),
        "hyperParameters",
        "must be a map",
    ),
    (
        "min length string",
        CREATE_JOB,
        create_job_request(clientToken=""),
        "clientToken",
        "at least 1 characters",
    ),
    (
        "max length string",
        CREATE_JOB,
        create_job_request(jobName="a" * 51),
        "jobName",
        "at most 50 characters",
    ),
    (
        "max length map value",
        CREATE_JOB,
        create_job_request(hyperParameters={"k": "v" * 2501}),
        "hyperParameters['k']",
        "at most 2500 characters",
    ),
    (
        "max length map key",
        CREATE_JOB,
        create_job_request(hyperParameters={"k" * 257: "v"}),
        "hyperParameters key",
        "at most 256 characters",
    ),
    (
        "max entries map",
        CREATE_JOB,
        create_job_request(hyperParameters={f"k{i}": "v" for i in range(101)}),
        "hyperParameters",
        "at most 100 entries",
    ),
    (
        "min items list",
        SEARCH_JOBS,
        search(filters=[{"name": "jobName", "values": [], "operator": "EQUAL"}]),
        "filters[0].values",
        "at least 1 items",
    ),
    (
        "max items list",
        SEARCH_JOBS,
        search(filters=[{"name": "jobName", "values": ["a"], "operator": "EQUAL"}] * 11),
        "filters",
        "at most 10 items",
    ),
    ("min range", SEARCH_JOBS, search(maxResults=0), "maxResults", "at least 1"),
    ("max range", SEARCH_JOBS, search(maxResults=101), "maxResults", "at most 100"),
    (
        "max range nested",
        CREATE_JOB,
        create_job_request(stoppingCondition={"maxRuntimeInSeconds": 432001}),
        "stoppingCondition.maxRuntimeInSeconds",
        "at most 432000",
    ),
    (
        "pattern full match, not prefix",
        CREATE_JOB,
        create_job_request(jobName="abc_def"),
        "jobName",
        "does not match the pattern",
    ),
    (
        "pattern full match, trailing hyphen",
        CREATE_JOB,
        create_job_request(jobName="abc-"),
        "jobName",
        "does not match the pattern",
    ),
    (
        "pattern with a prefix that matches",
        CREATE_JOB,
        create_job_request(roleArn="xarn:aws:iam::123456789012:role/r"),
        "roleArn",
        "does not match the pattern",
    ),
    (
        "pattern in a list item",
        CREATE_JOB,
        create_job_request(
            inputDataConfig=[
                {"channelName": "bad name", "dataSource": {"s3DataSource": {"s3Uri": "s3://b/k"}}}
            ]
        ),
        "inputDataConfig[0].channelName",
        "does not match the pattern",
    ),
    (
        "enum",
        CREATE_JOB,
        create_job_request(instanceConfig={"instanceType": "ml.fake.large"}),
        "instanceConfig.instanceType",
        "is not one of",
    ),
    (
        "enum in a list",
        GET_JOB,
        {
            "jobArn": "arn:aws:braket:us-west-2:123456789012:job/x",
            "additionalAttributeNames": ["Nope"],
        },
        "additionalAttributeNames[0]",
        "is not one of",
    ),
    (
        "enum of an operator",
        SEARCH_JOBS,
        search(filters=[{"name": "jobName", "values": ["a"], "operator": "LIKE"}]),
        "filters[0].operator",
        "is not one of",
    ),
]


@pytest.mark.parametrize(
    ("shape", "params", "path", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_one_problem_naming_its_field(
    shape: Shape, params: dict[str, Any], path: str, reason: str
) -> None:
    problems = problems_of(shape, params)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}"), problems[0]
    assert reason in problems[0]


def test_every_problem_is_reported() -> None:
    params = create_job_request(
        jobName="bad_name", roleArn=None, stoppingCondition={"maxRuntimeInSeconds": 0}
    )
    problems = problems_of(CREATE_JOB, params)
    assert sorted(p.split(":", 1)[0] for p in problems) == [
        "jobName",
        "roleArn",
        "stoppingCondition.maxRuntimeInSeconds",
    ]


def test_legacy_instance_type_is_accepted_only_with_the_served_enums() -> None:
    params = create_job_request(instanceConfig={"instanceType": "ml.p3.2xlarge"})

    assert validate(CREATE_JOB, params, served_enums) == []
    problems = validate(CREATE_JOB, params, model_enums)
    assert len(problems) == 1
    assert problems[0].startswith("instanceConfig.instanceType")


def test_unknown_members_are_ignored() -> None:
    assert problems_of(CREATE_JOB, create_job_request(someFutureMember={"x": 1})) == []


def test_a_non_object_request_names_the_request() -> None:
    assert validate(CREATE_JOB, [], served_enums) == [  # type: ignore[arg-type]
        "request: must be an object, got []"
    ]


def test_no_input_shape_means_no_problems() -> None:
    assert validate(None, {"anything": 1}, served_enums) == []


def test_long_values_are_abbreviated_in_messages() -> None:
    problems = problems_of(CREATE_JOB, create_job_request(roleArn="_" * 100))
    assert len(problems) == 1
    assert "_" * 60 not in problems[0]
    assert "..." in problems[0]
