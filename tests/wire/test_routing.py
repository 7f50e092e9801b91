"""Routing on the raw path: ARNs arrive as one percent-encoded segment (or decoded)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from hybridjobs.wire import botomodel
from hybridjobs.wire.routing import RestRouter

ARN = "arn:aws:braket:us-west-2:123456789012:job/2dcad83b-37d8-4093-a52f-8afb69d24116"
ENCODED = quote(ARN, safe="-_.~")


@pytest.fixture(scope="module")
def router() -> RestRouter:
    return RestRouter(botomodel.service_model("braket"))


@pytest.mark.parametrize(
    ("method", "path", "query", "operation", "labels"),
    [
        ("GET", f"/job/{ENCODED}", {}, "GetJob", {"jobArn": ARN}),
        ("GET", f"/job/{ARN}", {}, "GetJob", {"jobArn": ARN}),
        ("GET", f"/job/{ENCODED}/", {}, "GetJob", {"jobArn": ARN}),
        (
            "GET",
            f"/job/{ENCODED}",
            {"additionalAttributeNames": ["QueueInfo"]},
            "GetJob",
            {"jobArn": ARN},
        ),
        ("PUT", f"/job/{ENCODED}/cancel", {}, "CancelJob", {"jobArn": ARN}),
        ("PUT", f"/job/{ARN}/cancel", {}, "CancelJob", {"jobArn": ARN}),
        ("POST", "/job", {}, "CreateJob", {}),
        ("POST", "/jobs", {}, "SearchJobs", {}),
        ("POST", f"/tags/{ENCODED}", {}, "TagResource", {"resourceArn": ARN}),
        ("POST", f"/tags/{ARN}", {}, "TagResource", {"resourceArn": ARN}),
        ("GET", f"/tags/{ENCODED}", {}, "ListTagsForResource", {"resourceArn": ARN}),
        ("DELETE", f"/tags/{ENCODED}", {"tagKeys": ["a"]}, "UntagResource", {"resourceArn": ARN}),
        ("DELETE", f"/tags/{ARN}", {"tagKeys": ["a"]}, "UntagResource", {"resourceArn": ARN}),
        (
            "GET",
            "/device/arn%3Aaws%3Abraket%3A%3A%3Adevice%2Fqpu%2Fionq%2FForte-1",
            {},
            "GetDevice",
            {"deviceArn": "arn:aws:braket:::device/qpu/ionq/Forte-1"},
        ),
        ("POST", "/quantum-tasks", {}, "SearchQuantumTasks", {}),
    ],
)
def test_match(
    router: RestRouter,
    method: str,
    path: str,
    query: dict[str, list[str]],
    operation: str,
    labels: dict[str, str],
) -> None:
    match = router.match(method, path, query)

    assert match is not None
    assert match.operation.name == operation
    assert match.labels == labels


def test_encoded_job_arn_does_not_swallow_cancel(router: RestRouter) -> None:
    """The strict pass keeps ``/cancel`` out of the label; GetJob must not match it."""
    match = router.match("PUT", f"/job/{ENCODED}/cancel", {})
    assert match is not None
    assert match.labels["jobArn"] == ARN


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/"),
        ("GET", ""),
        ("GET", "/jobs"),  # SearchJobs is POST
        ("DELETE", f"/job/{ENCODED}"),
        ("PATCH", "/job"),
        ("GET", "/job"),
        ("POST", "/job/extra/segments/that/nothing/has"),
        ("GET", f"/jobx/{ENCODED}"),
    ],
)
def test_unknown_paths_match_nothing(router: RestRouter, method: str, path: str) -> None:
    assert router.match(method, path, {}) is None


def test_untag_without_tag_keys_still_routes_to_untag(router: RestRouter) -> None:
    """The missing ``tagKeys`` is a validation error later, not a routing miss."""
    match = router.match("DELETE", f"/tags/{ENCODED}", {})
    assert match is not None
    assert match.operation.name == "UntagResource"
