"""The support surfaces on a live server, chosen by the SigV4 signing name, through real
boto3 clients and the Braket SDK's own helpers (configured only by environment)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from braket.aws import AwsSession
from braket.jobs import hybrid_job
from braket.jobs.image_uris import Framework, retrieve_image
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LiveServer

REGION = "us-west-2"


@pytest.fixture
def sdk_session(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> AwsSession:
    """An AwsSession that reaches ``server`` through ``AWS_ENDPOINT_URL`` alone."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return AwsSession(boto_session=boto3.Session(region_name=REGION))


def test_each_signing_name_reaches_its_surface(server: LiveServer) -> None:
    identity = server.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    roles = server.client("iam", region="us-east-1").list_roles(PathPrefix="/service-role/")
    assert [r["RoleName"] for r in roles["Roles"]] == ["AmazonBraketJobsExecutionRole"]
    groups = server.client("logs").describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/aws/braket/jobs"]
    images = server.client("ecr").batch_get_image(
        repositoryName="amazon-braket-base-jobs", imageIds=[{"imageTag": "latest"}]
    )["images"]
    assert images[0]["imageId"]["imageTag"] == "latest"


@pytest.mark.parametrize(
    ("client", "operation", "signing_name"),
    [
        ("cloudwatch", "list_metrics", "monitoring"),  # query/json protocol
        ("sns", "list_topics", "sns"),  # query protocol
        ("sagemaker", "list_training_jobs", "sagemaker"),  # json protocol
    ],
)
def test_services_not_served_get_an_aws_error(
    server: LiveServer, client: str, operation: str, signing_name: str
) -> None:
    with pytest.raises(ClientError) as error:
        getattr(server.client(client), operation)()
    response: dict[str, Any] = error.value.response
    assert response["Error"]["Code"] == "UnknownOperationException"
    assert repr(signing_name) in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] >= 400


def test_sdk_default_role_and_account(sdk_session: AwsSession) -> None:
    assert sdk_session.get_default_jobs_role() == (
        "arn:aws:iam::000000000000:role/service-role/AmazonBraketJobsExecutionRole"
    )
    assert sdk_session.account_id == "000000000000"
    assert sdk_session.default_bucket() == f"amazon-braket-{REGION}-000000000000"


def test_sdk_reads_the_image_python_and_the_decorator_accepts_it(sdk_session: AwsSession) -> None:
    tag = sdk_session.get_full_image_tag(retrieve_image(Framework.BASE, REGION))
    assert "-py311-" in tag or "-py3" in tag

    @hybrid_job(device="local:braket/braket.local.qubit", aws_session=sdk_session)  # type: ignore[untyped-decorator]
    def decorated() -> int:
        return 1

    assert callable(decorated)
