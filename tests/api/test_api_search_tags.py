"""SearchJobs (filters, order, pagination) and the tag operations through boto3."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from support.braket import expect_error
from support.jobs import SV1_DEVICE, create_job_request, unique_name

from hybridjobs.jobs.model import JobStatus
from hybridjobs.store.sql import SqlJobStore

MISSING_JOB = "arn:aws:braket:us-west-2:000000000000:job/00000000-0000-4000-8000-000000000000"


def iso(moment: datetime.datetime) -> str:
    """RFC 3339 with microseconds (the service accepts any fraction)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def named(prefix: str) -> dict[str, Any]:
    return {"name": "jobName", "operator": "CONTAINS", "values": [prefix]}


def search_arns(braket: Any, *filters: dict[str, Any]) -> list[str]:
    arns: list[str] = []
    for page in braket.get_paginator("search_jobs").paginate(filters=list(filters)):
        arns.extend(job["jobArn"] for job in page["jobs"])
    return arns


# -- order and pagination -----------------------------------------------------------------


def test_pagination_through_25_jobs_newest_first(braket: Any) -> None:
    prefix = unique_name("page")
    created = [
        braket.create_job(**create_job_request(jobName=f"{prefix}-{i}"))["jobArn"]
        for i in range(25)
    ]

    pages = list(
        braket.get_paginator("search_jobs").paginate(
            filters=[named(prefix)], PaginationConfig={"PageSize": 10}
        )
    )

    assert [len(page["jobs"]) for page in pages] == [10, 10, 5]
    assert all("nextToken" in page for page in pages[:2])
    assert "nextToken" not in pages[-1]
    assert [job["jobArn"] for page in pages for job in page["jobs"]] == created[::-1]
    assert [job["jobName"] for job in pages[0]["jobs"][:2]] == [f"{prefix}-24", f"{prefix}-23"]


def test_max_items_stops_early(braket: Any) -> None:
    prefix = unique_name("few")
    for i in range(3):
        braket.create_job(**create_job_request(jobName=f"{prefix}-{i}"))

    result = (
        braket.get_paginator("search_jobs")
        .paginate(filters=[named(prefix)], PaginationConfig={"MaxItems": 2, "PageSize": 1})
        .build_full_result()
    )

    assert [job["jobName"] for job in result["jobs"]] == [f"{prefix}-2", f"{prefix}-1"]


def test_summaries_carry_the_job(braket: Any, server_store: SqlJobStore) -> None:
    name = unique_name("summary")
    arn = braket.create_job(
        **create_job_request(jobName=name, tags={"k": "v"}, deviceConfig={"device": SV1_DEVICE})
    )["jobArn"]
    started = datetime.datetime.now(tz=datetime.UTC)
    server_store.transition(arn, JobStatus.RUNNING, updates={"started_at": started})

    (summary,) = braket.search_jobs(filters=[named(name)])["jobs"]

    assert summary["jobArn"] == arn
    assert summary["jobName"] == name
    assert summary["status"] == "RUNNING"
    assert summary["device"] == SV1_DEVICE
    assert summary["tags"] == {"k": "v"}
    assert abs((summary["startedAt"] - started).total_seconds()) < 0.002
    assert summary["createdAt"] <= summary["startedAt"]
    assert "endedAt" not in summary


def test_default_page_is_20(braket: Any) -> None:
    prefix = unique_name("default")
    for i in range(21):
        braket.create_job(**create_job_request(jobName=f"{prefix}-{i}"))

    page = braket.search_jobs(filters=[named(prefix)])

    assert len(page["jobs"]) == 20
    assert page["nextToken"]


# -- filters ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trio(braket: Any, server_store: SqlJobStore) -> list[dict[str, Any]]:
    """Three jobs (oldest first) of one unique prefix, with their exact stored times."""
    prefix = unique_name("trio")
    devices = ["local:braket/default", SV1_DEVICE, "local:braket/default"]
    jobs = []
    for index, device in enumerate(devices):
        arn = braket.create_job(
            **create_job_request(jobName=f"{prefix}-{index}", deviceConfig={"device": device})
        )["jobArn"]
        stored = server_store.get_job(arn)
        assert stored is not None
        jobs.append(
            {
                "arn": arn,
                "name": f"{prefix}-{index}",
                "prefix": prefix,
                "device": device,
                "created": stored.created_at,
                "shown": braket.get_job(jobArn=arn)["createdAt"],
            }
        )
    server_store.transition(jobs[1]["arn"], JobStatus.CANCELLED)
    assert jobs[0]["created"] < jobs[1]["created"] < jobs[2]["created"]
    return jobs


def between(a: datetime.datetime, b: datetime.datetime) -> str:
    return iso(a + (b - a) / 2)


def pick(trio: list[dict[str, Any]], *indexes: int) -> list[str]:
    """The ARNs of the trio jobs at ``indexes``, as a search returns them: newest first."""
    return [trio[i]["arn"] for i in sorted(indexes, reverse=True)]


def test_filter_job_arn(braket: Any, trio: list[dict[str, Any]]) -> None:
    assert search_arns(
        braket, {"name": "jobArn", "operator": "EQUAL", "values": [trio[1]["arn"]]}
    ) == pick(trio, 1)
    assert (
        search_arns(braket, {"name": "jobArn", "operator": "EQUAL", "values": [MISSING_JOB]}) == []
    )


def test_filter_job_name(braket: Any, trio: list[dict[str, Any]]) -> None:
    assert search_arns(
        braket, {"name": "jobName", "operator": "EQUAL", "values": [trio[0]["name"]]}
    ) == pick(trio, 0)
    assert search_arns(
        braket,
        {"name": "jobName", "operator": "EQUAL", "values": [trio[0]["name"], trio[2]["name"]]},
    ) == pick(trio, 0, 2)
    assert (
        search_arns(braket, {"name": "jobName", "operator": "EQUAL", "values": [trio[0]["prefix"]]})
        == []
    )
    assert search_arns(braket, named(trio[0]["prefix"])) == pick(trio, 0, 1, 2)


def test_filter_device(braket: Any, trio: list[dict[str, Any]]) -> None:
    sv1 = {"name": "deviceArn", "operator": "EQUAL", "values": [SV1_DEVICE]}
    local = {"name": "deviceArn", "operator": "EQUAL", "values": ["local:braket/default"]}
    prefix = named(trio[0]["prefix"])
    assert search_arns(braket, prefix, sv1) == pick(trio, 1)
    assert search_arns(braket, prefix, local) == pick(trio, 0, 2)


def test_filter_status(braket: Any, trio: list[dict[str, Any]]) -> None:
    prefix = named(trio[0]["prefix"])
    cancelled = {"name": "status", "operator": "EQUAL", "values": ["CANCELLED"]}
    queued = {"name": "status", "operator": "EQUAL", "values": ["QUEUED"]}
    assert search_arns(braket, prefix, cancelled) == pick(trio, 1)
    assert search_arns(braket, prefix, queued) == pick(trio, 0, 2)


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("GT", lambda t: [between(t[0]["created"], t[1]["created"])], (1, 2)),
        ("GTE", lambda t: [between(t[0]["created"], t[1]["created"])], (1, 2)),
        ("LT", lambda t: [between(t[1]["created"], t[2]["created"])], (0, 1)),
        ("LTE", lambda t: [between(t[1]["created"], t[2]["created"])], (0, 1)),
        (
            "BETWEEN",
            lambda t: [
                between(t[0]["created"], t[1]["created"]),
                between(t[1]["created"], t[2]["created"]),
            ],
            (1,),
        ),
        ("EQUAL", lambda t: [iso(t[1]["shown"])], (1,)),
        ("EQUAL", lambda t: [t[1]["shown"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"], (1,)),
    ],
    ids=["GT", "GTE", "LT", "LTE", "BETWEEN", "EQUAL", "EQUAL-offset"],
)
def test_filter_created_at(
    braket: Any, trio: list[dict[str, Any]], operator: str, values: Any, expected: tuple[int, ...]
) -> None:
    created = {"name": "createdAt", "operator": operator, "values": values(trio)}
    assert search_arns(braket, named(trio[0]["prefix"]), created) == pick(trio, *expected)


def test_filters_are_anded(braket: Any, trio: list[dict[str, Any]]) -> None:
    after_first = {
        "name": "createdAt",
        "operator": "GT",
        "values": [between(trio[0]["created"], trio[1]["created"])],
    }
    local = {"name": "deviceArn", "operator": "EQUAL", "values": ["local:braket/default"]}
    assert search_arns(braket, named(trio[0]["prefix"]), after_first, local) == pick(trio, 2)


# -- tags ---------------------------------------------------------------------------------


def test_tag_list_untag(braket: Any) -> None:
    arn = braket.create_job(**create_job_request(tags={"a": "1"}))["jobArn"]

    braket.tag_resource(resourceArn=arn, tags={"b": "2", "a": "one"})
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "one", "b": "2"}
    assert braket.get_job(jobArn=arn)["tags"] == {"a": "one", "b": "2"}

    braket.untag_resource(resourceArn=arn, tagKeys=["a", "never-set"])
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}

    braket.untag_resource(resourceArn=arn, tagKeys=["a"])  # idempotent
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}


def test_tags_with_reserved_characters(braket: Any) -> None:
    arn = braket.create_job(**create_job_request())["jobArn"]
    tags = {"with space": "a/b:c", "amp&eq=": "?#%", "ünï": "cödé"}

    braket.tag_resource(resourceArn=arn, tags=tags)
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == tags

    braket.untag_resource(resourceArn=arn, tagKeys=list(tags))
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_tags_of_a_new_job_are_empty(braket: Any) -> None:
    arn = braket.create_job(**create_job_request())["jobArn"]
    assert braket.list_tags_for_resource(resourceArn=arn)["tags"] == {}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("tag_resource", {"tags": {"a": "b"}}),
        ("untag_resource", {"tagKeys": ["a"]}),
        ("list_tags_for_resource", {}),
    ],
)
def test_tag_operations_on_an_unknown_job(
    braket: Any, operation: str, params: dict[str, Any]
) -> None:
    response = expect_error(
        getattr(braket, operation),
        "ResourceNotFoundException",
        404,
        resourceArn=MISSING_JOB,
        **params,
    )
    assert MISSING_JOB in response["Error"]["Message"]
