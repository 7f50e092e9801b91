"""The REST member locations (``wire/restbinding.py``) against botocore's real models.

Requests are what boto3 puts on the wire (botocore's own serializer and request
preparation, through ``surfaces.roundtrip.Caller``), routed by :class:`RestRouter`; what
:func:`read_request` reads back must equal the parameters sent. Responses are read by
botocore's own parsers. Bad values must give each protocol's own 400 error.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.model import ServiceModel, Shape
from botocore.parsers import create_parser
from surfaces.roundtrip import Caller

from hybridjobs.objects import LocalObjectStore
from hybridjobs.services.s3 import S3Service, resolve_operation
from hybridjobs.store.sqlobjectmeta import SqlObjectMeta
from hybridjobs.wire import botomodel, restbinding, restjson, restxml
from hybridjobs.wire.envelope import serve
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.restbinding import BoundInput, read_request
from hybridjobs.wire.routing import RestRouter

UTC = datetime.UTC
MOMENT = datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)


class _ModelOnly:
    """Enough of a service for :class:`Caller` to build requests (never handles one)."""

    def __init__(self, service_name: str) -> None:
        self.model: ServiceModel = botomodel.service_model(service_name)

    def handle(self, request: WireRequest) -> WireResponse:
        raise AssertionError("requests are only built here")


def wire_request(service: str, operation: str, params: dict[str, Any]) -> WireRequest:
    """The request boto3 sends for ``operation(**params)`` (no validation)."""
    return Caller(_ModelOnly(service)).wire_request(operation, params)


def bind(service: str, request: WireRequest, expected_operation: str) -> BoundInput:
    """Route ``request`` as the server does and read its located members."""
    model = botomodel.service_model(service)
    match = RestRouter(model).match(request.method, request.raw_path, request.query)
    assert match is not None, f"{request.method} {request.raw_path} matched nothing"
    operation = match.operation
    if service == "s3":  # S3 shares routes between operations; the service picks one
        operation = model.operation_model(resolve_operation(operation.name, request))
    assert operation.name == expected_operation
    return read_request(operation, request, match.labels)


def round_trip(service: str, operation: str, params: dict[str, Any]) -> BoundInput:
    return bind(service, wire_request(service, operation, params), operation)


# -- requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "dir/sub dir/file.txt",
        "100%/a%2Fb/%25",
        "é+ü?x=1#frag;&=",
        "trailing/",
        "a//b",
    ],
)
def test_greedy_key_label_keeps_slashes_and_percent_escapes(key: str) -> None:
    bound = round_trip("s3", "GetObject", {"Bucket": "bkt", "Key": key})
    assert bound.problems == []
    assert bound.params == {"Bucket": "bkt", "Key": key}


def test_query_list_repeats_the_key() -> None:
    arn = "arn:aws:braket:us-west-2:123456789012:job/abc"
    keys = ["team", "b,c", "d e", "x+y"]
    bound = round_trip("braket", "UntagResource", {"resourceArn": arn, "tagKeys": keys})
    assert bound.params == {"resourceArn": arn, "tagKeys": keys}


def test_query_scalars_integers_and_rfc822_timestamp() -> None:
    params = {
        "Bucket": "bkt",
        "Key": "k",
        "PartNumber": 3,
        "ResponseExpires": MOMENT,  # the model says rfc822 in the query string
        "ResponseContentType": "text/plain",
    }
    assert round_trip("s3", "GetObject", params).params == params


def test_query_timestamps_iso8601_by_default_and_unix_when_modeled() -> None:
    start, end = MOMENT, MOMENT + datetime.timedelta(hours=1)
    iso = {"StartTime": start, "EndTime": end, "KeyAttributes": {"Type": "Service"}}
    bound = round_trip("application-signals", "GetService", iso)
    assert (bound.params["StartTime"], bound.params["EndTime"]) == (start, end)
    unix = {"groundStationId": "gs", "startTime": start, "endTime": end}
    bound = round_trip("groundstation", "ListGroundStationReservations", unix)
    assert bound.params == unix


def test_query_maps_take_the_unclaimed_keys() -> None:
    strings: dict[str, Any] = {"restApiId": "api1", "stageName": "prod", "exportType": "oas30"}
    strings["parameters"] = {"extensions": "integrations", "other": "x y"}
    bound = round_trip("apigateway", "GetExport", strings)
    assert bound.params == strings

    lists: dict[str, Any] = {
        "filters": {"status": ["ACTIVE", "CREATING"], "alias": ["a"]},
        "maxResults": 5,
    }
    bound = round_trip("amp", "ListScrapers", lists)
    assert bound.params == lists


def test_integer_uri_label() -> None:
    params = {"ApplicationId": "app", "ConfigurationProfileId": "prof", "VersionNumber": 7}
    assert round_trip("appconfig", "DeleteHostedConfigurationVersion", params).params == params


def test_header_scalars_timestamps_and_prefix_map() -> None:
    params = {
        "Bucket": "bkt",
        "Key": "k",
        "Body": b"x",
        "ContentLength": 1,
        "Expires": MOMENT,  # rfc822, the header default
        "ObjectLockRetainUntilDate": MOMENT,  # iso8601 by the model
        "BucketKeyEnabled": True,
        "Metadata": {"owner": "qml", "run-id": "7"},
        "ContentType": "application/x-custom",
    }
    bound = round_trip("s3", "PutObject", params)
    assert bound.problems == []
    sent = {name: value for name, value in params.items() if name != "Body"}
    assert {name: bound.params[name] for name in sent} == sent


def test_headers_prefix_map_keys_are_lower_case() -> None:
    request = wire_request(
        "s3", "PutObject", {"Bucket": "b", "Key": "k", "Metadata": {"Mixed": "v"}}
    )
    assert bind("s3", request, "PutObject").params["Metadata"] == {"mixed": "v"}


def test_conditional_header_timestamp() -> None:
    params = {"Bucket": "bkt", "Key": "k", "IfModifiedSince": MOMENT}
    assert round_trip("s3", "GetObject", params).params == params


def test_unreadable_date_is_ignored_in_conditional_headers_only() -> None:
    request = wire_request("s3", "GetObject", {"Bucket": "bkt", "Key": "k"})
    request.headers["if-modified-since"] = "yesterday"
    bound = bind("s3", request, "GetObject")
    assert (bound.params, bound.problems) == ({"Bucket": "bkt", "Key": "k"}, [])

    request = wire_request("s3", "PutObject", {"Bucket": "bkt", "Key": "k"})
    request.headers["x-amz-object-lock-retain-until-date"] = "yesterday"
    bound = bind("s3", request, "PutObject")
    assert "ObjectLockRetainUntilDate" not in bound.params
    [problem] = bound.problems
    assert problem.startswith("ObjectLockRetainUntilDate (header x-amz-object-lock-retain-")


def test_header_list_with_quoted_items() -> None:
    ids = ["plain", "with,comma", 'with"quote', " spaced "]
    params = {"workflowName": "wf", "uniqueIds": ids}
    bound = round_trip("entityresolution", "BatchDeleteUniqueId", params)
    assert bound.params["uniqueIds"] == ["plain", "with,comma", 'with"quote', "spaced"]


def test_json_value_header_round_trips_any_json() -> None:
    properties = [{"key": "k", "value": "v"}, {"nested": {"list": [1, 2.5, None, True]}}]
    params = {"topic": "a/b", "userProperties": properties}
    bound = round_trip("iot-data", "Publish", params)
    assert bound.params == params


def test_bad_values_name_member_and_place() -> None:
    request = wire_request("s3", "GetObject", {"Bucket": "bkt", "Key": "k"})
    request.query["partNumber"] = ["two"]
    request.headers["if-modified-since"] = "Wed, 01 May 2024 12:30:15 GMT"
    bound = bind("s3", request, "GetObject")
    assert bound.problems == [
        "PartNumber (query parameter partNumber): must be an integer, got 'two'"
    ]
    assert "PartNumber" not in bound.params and "IfModifiedSince" in bound.params


@pytest.mark.parametrize(
    ("type_name", "text", "value"),
    [
        ("integer", "-12", -12),
        ("long", "+9007199254740993", 9007199254740993),
        ("double", "2.5e3", 2500.0),
        ("double", "-Infinity", float("-inf")),
        ("boolean", "TRUE", True),
        ("blob", "aGk=", b"hi"),
    ],
)
def test_scalar_text(type_name: str, text: str, value: Any) -> None:
    assert (
        restbinding.from_text(_shape_of_type(type_name), text, timestamp_format="iso8601") == value
    )


@pytest.mark.parametrize(
    ("type_name", "text"),
    [
        ("integer", "1_000"),
        ("integer", "1.0"),
        ("integer", " 1"),
        ("double", "1_0"),
        ("double", "nan"),
        ("boolean", "yes"),
        ("blob", "not base64!"),
        ("timestamp", "0001-01-01T00:00:00+01:00"),
        ("timestamp", "1e400"),
    ],
)
def test_bad_scalar_text_raises(type_name: str, text: str) -> None:
    with pytest.raises(restbinding.BindingError):
        restbinding.from_text(_shape_of_type(type_name), text, timestamp_format="iso8601")


def test_an_integer_too_long_to_convert_is_a_problem_not_a_crash() -> None:
    with pytest.raises(restbinding.BindingError, match=r"must be an integer, got '1111.*\.\.\.$"):
        restbinding.from_text(_shape_of_type("long"), "1" * 5000, timestamp_format="iso8601")


def _shape_of_type(type_name: str) -> Shape:
    return Shape(f"A{type_name.title()}", {"type": type_name})


# -- through the codecs: each protocol's 400, and values that used to fail ----------------


def test_bad_integer_header_is_rest_json_validation_exception() -> None:
    codec = restjson.RestJsonCodec("appconfig")
    request = wire_request(
        "appconfig",
        "CreateExtension",
        {"Name": "ext", "Actions": {}, "LatestVersionNumber": 1},
    )
    request.headers["latest-version-number"] = "one"
    called: list[str] = []

    def handler(request: WireRequest, params: dict[str, Any]) -> Any:
        called.append(request.operation)

    response = serve(codec, lambda name: handler, request)

    parsed = _parse("rest-json", codec.model.operation_model("CreateExtension"), response)
    assert (response.status, parsed["Error"]["Code"]) == (400, "ValidationException")
    assert "LatestVersionNumber (header Latest-Version-Number)" in parsed["Error"]["Message"]
    assert called == []


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Service]:
    records = SqlObjectMeta(f"sqlite:///{tmp_path / 'records.db'}")
    try:
        yield S3Service(LocalObjectStore(tmp_path / "objects"), records)
    finally:
        records.close()


def test_bad_long_header_is_s3_invalid_argument(s3: S3Service) -> None:
    request = wire_request(
        "s3",
        "CompleteMultipartUpload",
        {"Bucket": "bkt", "Key": "k", "UploadId": "u", "MpuObjectSize": 3},
    )
    request.headers["x-amz-mp-object-size"] = "3 bytes"

    response = s3.handle(request)

    parsed = _parse("rest-xml", s3.model.operation_model("CompleteMultipartUpload"), response)
    assert (response.status, parsed["Error"]["Code"]) == (400, "InvalidArgument")
    assert "MpuObjectSize (header x-amz-mp-object-size)" in parsed["Error"]["Message"]


def test_rfc822_timestamp_in_an_xml_body_parses(s3: S3Service) -> None:
    """DeleteObjects' ``LastModifiedTime`` is modeled rfc822 inside the XML document."""
    request = wire_request(
        "s3",
        "DeleteObjects",
        {"Bucket": "bkt", "Delete": {"Objects": [{"Key": "a", "LastModifiedTime": MOMENT}]}},
    )
    operation = s3.model.operation_model("DeleteObjects")
    params = restxml.parse_request(operation, request, {"Bucket": "bkt"})
    assert params["Delete"]["Objects"] == [{"Key": "a", "LastModifiedTime": MOMENT}]


def test_rfc822_query_timestamp_reaches_s3_and_comes_back(s3: S3Service) -> None:
    """GetObject's ``response-expires`` is rfc822 by the model; the override is answered
    as the ``Expires`` header."""
    call = Caller(s3)
    call("CreateBucket", Bucket="bkt")
    call("PutObject", Bucket="bkt", Key="k", Body=b"x")
    answer = call("GetObject", Bucket="bkt", Key="k", ResponseExpires=MOMENT)
    assert answer["Expires"] == MOMENT


def test_out_of_range_date_in_an_xml_body_is_malformed_xml(s3: S3Service) -> None:
    """A date that overflows when moved to UTC was an internal error (500) before."""
    request = wire_request("s3", "DeleteObjects", {"Bucket": "bkt", "Delete": {"Objects": []}})
    request.body = (
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key>'
        b"<LastModifiedTime>0001-01-01T00:00:00+01:00</LastModifiedTime></Object></Delete>"
    )
    request.headers.pop("content-md5", None)
    response = s3.handle(request)
    parsed = _parse("rest-xml", s3.model.operation_model("DeleteObjects"), response)
    assert (response.status, parsed["Error"]["Code"]) == (400, "MalformedXML")
    assert "LastModifiedTime: must be a timestamp" in parsed["Error"]["Message"]


# -- responses ----------------------------------------------------------------------------


def _parse(protocol: str, operation: Any, response: WireResponse) -> dict[str, Any]:
    parsed: dict[str, Any] = create_parser(protocol).parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(response.headers),
            "body": response.body,
        },
        operation.output_shape,
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_s3_response_headers_parse_in_botocore() -> None:
    operation = botomodel.operation_model("s3", "HeadObject")
    output: dict[str, Any] = {
        "LastModified": MOMENT,
        "ContentLength": 12,
        "ETag": '"abc"',
        "Metadata": {"owner": "qml"},
        "BucketKeyEnabled": False,
        "ObjectLockRetainUntilDate": MOMENT,
        "MissingMeta": 0,
    }
    response = restxml.serialize_response(operation, output, "rid")
    assert response.headers["Last-Modified"] == "Wed, 01 May 2024 12:30:15 GMT"
    assert response.headers["x-amz-server-side-encryption-bucket-key-enabled"] == "false"
    assert _parse("rest-xml", operation, response) == output


def test_rest_json_response_headers_parse_in_botocore() -> None:
    operation = botomodel.operation_model("mediastore-data", "DescribeObject")
    output: dict[str, Any] = {"LastModified": MOMENT, "ContentLength": 5, "ETag": "e"}
    response = restjson.serialize_response(operation, output, "rid")
    assert response.headers["Last-Modified"] == "Wed, 01 May 2024 12:30:15 GMT"
    parsed = _parse("rest-json", operation, response)
    assert {name: parsed[name] for name in output} == output


def test_json_value_headers_and_status_code_member() -> None:
    operation = botomodel.operation_model("lex-runtime", "PutSession")
    output = {"sessionAttributes": {"a": "1"}, "slots": {"s": None}, "sessionId": "x"}
    response = restjson.serialize_response(operation, output, "rid")
    parsed = _parse("rest-json", operation, response)
    assert {name: parsed[name] for name in output} == output

    estimate = botomodel.operation_model("customer-profiles", "GetSegmentEstimate")
    answer = restjson.serialize_response(estimate, {"StatusCode": 202, "Estimate": "9"}, "rid")
    assert answer.status == 202
    assert _parse("rest-json", estimate, answer)["StatusCode"] == 202
    assert restbinding.response_status(estimate, {"StatusCode": 202}, 206) == 206
