"""The rest-xml layer and S3 routing, in process, through botocore's own serializer and
parser (no server): what boto3 would send parses here, what we answer parses in boto3."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from surfaces.roundtrip import Caller, CallError

from hybridjobs.objects import LocalObjectStore
from hybridjobs.services.s3 import S3Service, bucket_from_host, resolve_operation, route_path
from hybridjobs.store.sqlobjectmeta import SqlObjectMeta
from hybridjobs.wire import botomodel, restxml
from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.routing import RestRouter

UTC = datetime.UTC


@pytest.fixture
def service(tmp_path: Path) -> Iterator[S3Service]:
    records = SqlObjectMeta(f"sqlite:///{tmp_path / 'records.db'}")
    try:
        yield S3Service(LocalObjectStore(tmp_path / "objects"), records)
    finally:
        records.close()


@pytest.fixture
def call(service: S3Service) -> Caller:
    return Caller(service)


def wire(method: str, path: str, query: str = "", **headers: str) -> WireRequest:
    return WireRequest(
        method=method,
        raw_path=path,
        query=WireRequest.parse_query(query),
        headers={k.replace("_", "-").lower(): v for k, v in headers.items()},
        body=b"",
        region="us-west-2",
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("PUT", "/b/k", "", {}, "PutObject"),
        ("PUT", "/b/k", "", {"x_amz_copy_source": "/src/k"}, "CopyObject"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {"x_amz_copy_source": "s/k"}, "UploadPartCopy"),
        ("GET", "/b/k", "", {}, "GetObject"),
        ("GET", "/b/k", "uploadId=u", {}, "ListParts"),
        ("DELETE", "/b/k", "", {}, "DeleteObject"),
        ("DELETE", "/b/k", "uploadId=u", {}, "AbortMultipartUpload"),
        ("POST", "/b/k", "uploads", {}, "CreateMultipartUpload"),
        ("POST", "/b/k", "uploadId=u", {}, "CompleteMultipartUpload"),
        ("GET", "/b", "", {}, "ListObjects"),
        ("GET", "/b", "list-type=2", {}, "ListObjectsV2"),
        ("GET", "/b/", "list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("POST", "/b", "delete", {}, "DeleteObjects"),
        ("GET", "/", "", {}, "ListBuckets"),
        ("PUT", "/b", "", {}, "CreateBucket"),
        ("HEAD", "/b", "", {}, "HeadBucket"),
        ("HEAD", "/b/dir/k.txt", "", {}, "HeadObject"),
        ("GET", "/b/k", "tagging", {}, "GetObjectTagging"),
    ],
)
def test_ambiguous_routes_resolve_explicitly(
    method: str, path: str, query: str, headers: dict[str, str], operation: str
) -> None:
    router = RestRouter(botomodel.service_model("s3"))
    request = wire(method, path, query, **headers)
    match = router.match(method, path, request.query)
    assert match is not None
    assert resolve_operation(match.operation.name, request) == operation


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("127.0.0.1:8750", None),
        ("localhost:8750", None),
        ("localhost", None),
        ("[::1]:8750", None),
        ("s3.localhost:8750", None),
        ("s3.amazonaws.com", None),
        ("s3.us-west-2.amazonaws.com", None),
        ("my-bucket.localhost:8750", "my-bucket"),
        ("my.dotted.bucket.localhost", "my.dotted.bucket"),
        ("my-bucket.s3.localhost:8750", "my-bucket"),
        ("my-bucket.s3.127.0.0.1.nip.io:9000", "my-bucket"),
        ("my-bucket.s3.us-west-2.amazonaws.com", "my-bucket"),
        ("my-bucket.s3-us-west-2.amazonaws.com", "my-bucket"),
        ("hybridjobs.example.com", None),
    ],
)
def test_bucket_from_host(host: str, bucket: str | None) -> None:
    assert bucket_from_host(host) == bucket


def test_route_path_prefixes_the_virtual_host_bucket() -> None:
    assert route_path(wire("GET", "/", host="b.localhost:1")) == "/b"
    assert route_path(wire("GET", "/k/x%20y", host="b.localhost:1")) == "/b/k/x%20y"
    assert route_path(wire("GET", "/b/k", host="127.0.0.1:1")) == "/b/k"


def test_xml_payloads_round_trip(call: Caller) -> None:
    call(
        "CreateBucket",
        Bucket="bkt",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-2"},
    )
    assert call("HeadBucket", Bucket="bkt")["BucketRegion"] == "eu-west-2"
    for key in ("a", "b/c", "d e+f"):
        call("PutObject", Bucket="bkt", Key=key, Body=b"x")
    out = call(
        "DeleteObjects",
        Bucket="bkt",
        Delete={"Objects": [{"Key": "a"}, {"Key": "b/c"}, {"Key": "d e+f"}], "Quiet": False},
    )
    assert sorted(item["Key"] for item in out["Deleted"]) == ["a", "b/c", "d e+f"]
    assert "Contents" not in call("ListObjectsV2", Bucket="bkt")


def test_metadata_and_headers_round_trip(call: Caller) -> None:
    call("CreateBucket", Bucket="bkt")
    call(
        "PutObject",
        Bucket="bkt",
        Key="data.bin",
        Body=b"\x00\x01",
        ContentType="application/x-custom",
        Metadata={"owner": "qml", "run": "7"},
        CacheControl="no-cache",
    )
    head = call("HeadObject", Bucket="bkt", Key="data.bin")
    assert head["ContentType"] == "application/x-custom"
    assert head["Metadata"] == {"owner": "qml", "run": "7"}
    assert head["CacheControl"] == "no-cache"
    assert head["ContentLength"] == 2
    assert isinstance(head["LastModified"], datetime.datetime)


def test_error_document_parses_as_s3_error(call: Caller) -> None:
    with pytest.raises(CallError) as raised:
        call("GetObject", Bucket="nope", Key="k")
    assert (raised.value.code, raised.value.status) == ("NoSuchBucket", 404)
    assert raised.value.parsed["Error"]["BucketName"] == "nope"


def test_unimplemented_operation_is_s3_not_implemented(call: Caller) -> None:
    with pytest.raises(CallError) as raised:
        call("GetBucketPolicy", Bucket="bkt")
    assert (raised.value.code, raised.value.status) == ("NotImplemented", 501)


def test_malformed_xml_is_rejected(service: S3Service) -> None:
    call = Caller(service)
    call("CreateBucket", Bucket="bkt")
    request = wire("POST", "/bkt", "delete")
    request.body = b"<Delete><Object><Key>a</Key></Object"
    response = service.handle(request)
    assert response.status == 400
    assert b"<Code>MalformedXML</Code>" in response.body


def test_serializer_output_parses_in_botocore() -> None:
    """A ListObjectsV2 answer with every kind of member botocore reads back unchanged."""
    operation = botomodel.operation_model("s3", "ListObjectsV2")
    moment = datetime.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
    output: dict[str, Any] = {
        "Name": "bkt",
        "Prefix": "p/",
        "Delimiter": "/",
        "MaxKeys": 2,
        "KeyCount": 2,
        "IsTruncated": True,
        "NextContinuationToken": "tok",
        "Contents": [{"Key": "p/a", "LastModified": moment, "ETag": '"e"', "Size": 3}],
        "CommonPrefixes": [{"Prefix": "p/d/"}],
    }
    response = restxml.serialize_response(
        operation, output, "rid", root_name="ListBucketResult", namespace="urn:x"
    )
    assert response.body.startswith(b"<?xml")
    assert b"<ListBucketResult" in response.body
    parsed = create_parser("rest-xml").parse(
        {"status_code": 200, "headers": HeadersDict(response.headers), "body": response.body},
        operation.output_shape,
    )
    parsed.pop("ResponseMetadata")
    assert parsed == output
