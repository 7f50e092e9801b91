"""Tag keys with the ``aws:`` prefix are AWS's own: TagResource and the ``tags`` of
CreateJob / CreateQuantumTask refuse them with a ValidationException naming the key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from support.braket import expect_error
from support.jobs import create_job_request, unique_name
from support.server import LiveServer

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
BELL = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"


@pytest.fixture(scope="module")
def output_bucket(server: LiveServer) -> str:
    name = f"tags-reserved-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    return name


def task_request(bucket: str, **extra: Any) -> dict[str, Any]:
    from braket.ir.openqasm import Program

    return {
        "clientToken": str(uuid.uuid4()),
        "deviceArn": SV1,
        "shots": 10,
        "outputS3Bucket": bucket,
        "outputS3KeyPrefix": "tasks",
        "action": Program(source=BELL, inputs={}).json(),
        **extra,
    }


def test_tag_resource_refuses_aws_keys_on_jobs(braket: Any) -> None:
    arn = braket.create_job(**create_job_request(jobName=unique_name("tags")))["jobArn"]
    for key in ("aws:owner", "AWS:Owner"):
        error = expect_error(
            braket.tag_resource, "ValidationException", 400, resourceArn=arn, tags={key: "x"}
        )
        assert key in error["Error"]["Message"]
    braket.tag_resource(resourceArn=arn, tags={"awsome": "1", "team:aws": "2"})
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "awsome": "1",
        "team:aws": "2",
    }


def test_a_refused_tag_resource_stores_nothing(braket: Any) -> None:
    arn = braket.create_job(**create_job_request(jobName=unique_name("tags")))["jobArn"]
    expect_error(
        braket.tag_resource,
        "ValidationException",
        resourceArn=arn,
        tags={"ok": "1", "aws:cloudformation:stack-name": "s"},
    )
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_create_job_refuses_aws_keys(braket: Any) -> None:
    name = unique_name("tags")
    error = expect_error(
        braket.create_job,
        "ValidationException",
        400,
        **create_job_request(jobName=name, tags={"aws:createdBy": "me"}),
    )
    assert "aws:createdBy" in error["Error"]["Message"]
    named = {"name": "jobName", "operator": "EQUAL", "values": [name]}
    assert braket.search_jobs(filters=[named])["jobs"] == []


def test_quantum_tasks_refuse_aws_keys(braket: Any, output_bucket: str) -> None:
    error = expect_error(
        braket.create_quantum_task,
        "ValidationException",
        400,
        **task_request(output_bucket, tags={"aws:team": "qml"}),
    )
    assert "aws:team" in error["Error"]["Message"]
    arn = braket.create_quantum_task(**task_request(output_bucket, tags={"team": "qml"}))[
        "quantumTaskArn"
    ]
    error = expect_error(
        braket.tag_resource, "ValidationException", 400, resourceArn=arn, tags={"aws:x": "1"}
    )
    assert "aws:x" in error["Error"]["Message"]
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "qml"}
