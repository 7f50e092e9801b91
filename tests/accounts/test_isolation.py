"""One account never sees or touches another's jobs, tasks, buckets or objects; each
account has quotas of its own.

A live server with accounts A, B (isolation), C and D (quotas), each its own key, and a
key of the old ``{"AKID": "secret"}`` form (the default account); every request is signed
by botocore. The quotas (2 jobs, 3 instances, 1 queued task per account) are far from
what the isolation tests use.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from support.jobs import create_job_request, unique_name

from accounts.conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    DEFAULT_ACCOUNT,
    KEY_C,
    KEY_D,
    KEY_OLD,
    REGION,
    SECRET_C,
    SECRET_D,
    SECRET_OLD,
    TWO_ACCOUNTS_ENV,
    Clients,
    client_of,
    error_code,
)

BUCKET_A = f"amazon-braket-{REGION}-{ACCOUNT_A}"
BUCKET_B = f"amazon-braket-{REGION}-{ACCOUNT_B}"
BELL = json.dumps(
    {
        "braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
        "source": "OPENQASM 3.0;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];",
    }
)
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
QUOTA = ("ServiceQuotaExceededException", 402)


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {
        **TWO_ACCOUNTS_ENV,
        "HYBRIDJOBS_MAX_CONCURRENT_JOBS_PER_ACCOUNT": "2",
        "HYBRIDJOBS_MAX_CONCURRENT_INSTANCES_PER_ACCOUNT": "3",
        "HYBRIDJOBS_MAX_QUEUED_TASKS_PER_ACCOUNT": "1",
    }


@pytest.fixture(scope="module")
def a_things(of_a: Clients, of_b: Clients) -> dict[str, Any]:
    """Account A's bucket, object, job and quantum task (and B's own bucket)."""
    s3 = of_a("s3")
    s3.create_bucket(Bucket=BUCKET_A, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET_A, Key="secret.txt", Body=b"A's data")
    of_b("s3").create_bucket(
        Bucket=BUCKET_B, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    braket = of_a("braket")
    job_arn = braket.create_job(
        **create_job_request(
            jobName=unique_name("acct-a"),
            algorithmSpecification={
                "scriptModeConfig": {"s3Uri": f"s3://{BUCKET_A}/src/script.py"}
            },
            outputDataConfig={"s3Path": f"s3://{BUCKET_A}/out"},
            tags={"owner": "a"},
        )
    )["jobArn"]
    task_arn = braket.create_quantum_task(
        action=BELL,
        deviceArn=SV1,
        shots=10,
        outputS3Bucket=BUCKET_A,
        outputS3KeyPrefix="tasks",
        clientToken=str(uuid.uuid4()),
    )["quantumTaskArn"]
    return {"job": job_arn, "task": task_arn}


def test_each_key_is_its_account_in_sts(server: Any, of_a: Clients, of_b: Clients) -> None:
    assert of_a("sts").get_caller_identity()["Account"] == ACCOUNT_A
    identity = of_b("sts").get_caller_identity()
    assert identity["Account"] == ACCOUNT_B
    assert identity["Arn"].startswith(f"arn:aws:iam::{ACCOUNT_B}:")
    old = client_of(server.url, "sts", KEY_OLD, SECRET_OLD)
    assert old.get_caller_identity()["Account"] == DEFAULT_ACCOUNT


def test_jobs_of_another_account_are_not_found(
    a_things: dict[str, Any], of_a: Clients, of_b: Clients
) -> None:
    job = a_things["job"]
    assert job.split(":")[4] == ACCOUNT_A
    assert of_a("braket").get_job(jobArn=job)["jobArn"] == job
    braket = of_b("braket")
    not_found = ("ResourceNotFoundException", 404)
    assert error_code(lambda: braket.get_job(jobArn=job)) == not_found
    assert error_code(lambda: braket.cancel_job(jobArn=job)) == not_found
    assert error_code(lambda: braket.list_tags_for_resource(resourceArn=job)) == not_found
    assert error_code(lambda: braket.tag_resource(resourceArn=job, tags={"x": "y"})) == not_found
    assert error_code(lambda: braket.untag_resource(resourceArn=job, tagKeys=["owner"])) == (
        not_found
    )
    assert braket.search_jobs(filters=[])["jobs"] == []
    mine = of_a("braket").search_jobs(filters=[])["jobs"]
    assert [j["jobArn"] for j in mine] == [job]
    assert of_a("braket").get_job(jobArn=job)["status"] == "QUEUED"  # B's cancel did nothing


def test_tasks_of_another_account_are_not_found(
    a_things: dict[str, Any], of_a: Clients, of_b: Clients
) -> None:
    task = a_things["task"]
    assert of_a("braket").get_quantum_task(quantumTaskArn=task)["quantumTaskArn"] == task
    braket = of_b("braket")
    not_found = ("ResourceNotFoundException", 404)
    assert error_code(lambda: braket.get_quantum_task(quantumTaskArn=task)) == not_found
    assert error_code(lambda: braket.cancel_quantum_task(quantumTaskArn=task, clientToken="t")) == (
        not_found
    )
    assert error_code(lambda: braket.list_tags_for_resource(resourceArn=task)) == not_found
    assert braket.search_quantum_tasks(filters=[])["quantumTasks"] == []
    assert len(of_a("braket").search_quantum_tasks(filters=[])["quantumTasks"]) == 1


def test_buckets_and_objects_of_another_account_are_denied(
    a_things: dict[str, Any], of_a: Clients, of_b: Clients
) -> None:
    s3 = of_b("s3")
    denied = ("AccessDenied", 403)
    assert error_code(lambda: s3.get_object(Bucket=BUCKET_A, Key="secret.txt")) == denied
    assert error_code(lambda: s3.list_objects_v2(Bucket=BUCKET_A)) == denied
    assert error_code(lambda: s3.put_object(Bucket=BUCKET_A, Key="x", Body=b"B")) == denied
    assert error_code(lambda: s3.delete_object(Bucket=BUCKET_A, Key="secret.txt")) == denied
    assert error_code(lambda: s3.head_bucket(Bucket=BUCKET_A))[1] == 403
    assert error_code(lambda: s3.delete_bucket(Bucket=BUCKET_A)) == denied
    copy = {"Bucket": BUCKET_B, "Key": "stolen", "CopySource": f"{BUCKET_A}/secret.txt"}
    assert error_code(lambda: s3.copy_object(**copy)) == denied
    assert error_code(lambda: s3.create_bucket(Bucket=BUCKET_A)) == ("BucketAlreadyExists", 409)
    # Nobody squats on another account's default bucket before it exists.
    other_region = f"amazon-braket-eu-west-2-{ACCOUNT_A}"
    assert error_code(lambda: s3.create_bucket(Bucket=other_region)) == denied
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert BUCKET_B in names and BUCKET_A not in names
    body = of_a("s3").get_object(Bucket=BUCKET_A, Key="secret.txt")["Body"].read()
    assert body == b"A's data"  # nothing B tried changed it
    assert BUCKET_A in {b["Name"] for b in of_a("s3").list_buckets()["Buckets"]}


def test_jobs_and_tasks_may_not_use_another_accounts_bucket(
    a_things: dict[str, Any], of_b: Clients
) -> None:
    braket = of_b("braket")
    request = create_job_request(
        jobName=unique_name("acct-b"),
        algorithmSpecification={"scriptModeConfig": {"s3Uri": f"s3://{BUCKET_A}/src/script.py"}},
        outputDataConfig={"s3Path": f"s3://{BUCKET_B}/out"},
    )
    code = error_code(lambda: braket.create_job(**request))
    assert code == ("AccessDeniedException", 403)
    task = {
        "action": BELL,
        "deviceArn": SV1,
        "shots": 10,
        "outputS3Bucket": BUCKET_A,
        "outputS3KeyPrefix": "tasks",
        "clientToken": str(uuid.uuid4()),
    }
    assert error_code(lambda: braket.create_quantum_task(**task)) == ("AccessDeniedException", 403)


def _job_request(bucket: str, count: int = 1) -> dict[str, Any]:
    return create_job_request(
        jobName=unique_name("quota"),
        algorithmSpecification={"scriptModeConfig": {"s3Uri": f"s3://{bucket}/src/s.py"}},
        outputDataConfig={"s3Path": f"s3://{bucket}/out"},
        instanceConfig={"instanceCount": count},
    )


def _job(braket: Any, bucket: str, count: int = 1) -> str:
    arn: str = braket.create_job(**_job_request(bucket, count))["jobArn"]
    return arn


def _task(braket: Any, bucket: str) -> str:
    arn: str = braket.create_quantum_task(
        action=BELL,
        deviceArn=SV1,
        shots=10,
        outputS3Bucket=bucket,
        outputS3KeyPrefix="t",
        clientToken=str(uuid.uuid4()),
    )["quantumTaskArn"]
    return arn


def test_quotas_bound_each_account_alone(server: Any) -> None:
    (braket_c, bucket_c), (braket_d, bucket_d) = (
        (client_of(server.url, "braket", key, secret), f"quota-{key.lower()}")
        for key, secret in ((KEY_C, SECRET_C), (KEY_D, SECRET_D))
    )
    client_of(server.url, "s3", KEY_C, SECRET_C).create_bucket(Bucket=bucket_c)
    client_of(server.url, "s3", KEY_D, SECRET_D).create_bucket(Bucket=bucket_d)

    first_request = _job_request(bucket_c, count=2)
    first = braket_c.create_job(**first_request)["jobArn"]
    assert error_code(lambda: _job(braket_c, bucket_c, count=2)) == QUOTA  # 4 > 3 instances
    _job(braket_c, bucket_c)
    assert error_code(lambda: _job(braket_c, bucket_c)) == QUOTA  # a third job
    # A retry of a job that was accepted is answered as before, at quota or not.
    assert braket_c.create_job(**first_request)["jobArn"] == first
    _job(braket_d, bucket_d, count=3)  # D has quotas of its own
    braket_c.cancel_job(jobArn=first)  # a queued job is cancelled at once: a slot is free
    assert braket_c.get_job(jobArn=first)["status"] == "CANCELLED"
    _job(braket_c, bucket_c)
    assert error_code(lambda: _job(braket_c, bucket_c)) == QUOTA

    queued = _task(braket_c, bucket_c)
    assert error_code(lambda: _task(braket_c, bucket_c)) == QUOTA
    _task(braket_d, bucket_d)
    braket_c.cancel_quantum_task(quantumTaskArn=queued, clientToken=str(uuid.uuid4()))
    _task(braket_c, bucket_c)  # a cancelled task no longer waits in the queue
