"""Raw-bytes mutations of real requests (captured from boto3) sent over a socket to a live
server: whatever arrives, the answer is never a 5xx, a refused request stores nothing, and
the server keeps answering."""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore import xform_name
from hypothesis import given, settings
from hypothesis import strategies as st
from support.server import LiveServer, aws_client

from fuzz.conftest import RAW_EXAMPLES, STATUSES, stored
from fuzz.test_fuzz_operations import UNCHECKED

SEEDS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "braket",
        "CreateJob",
        {
            "jobName": "raw",
            "roleArn": "arn:aws:iam::000000000000:role/r",
            "algorithmSpecification": {
                "scriptModeConfig": {"entryPoint": "a:main", "s3Uri": "s3://fuzz-raw/a.py"}
            },
            "outputDataConfig": {"s3Path": "s3://fuzz-raw/out"},
            "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
            "deviceConfig": {"device": "local:braket/default"},
            "hyperParameters": {"a": "1"},
        },
    ),
    ("braket", "SearchJobs", {"filters": []}),
    ("braket", "GetDevice", {"deviceArn": "arn:aws:braket:::device/quantum-simulator/amazon/sv1"}),
    ("s3", "PutObject", {"Bucket": "fuzz-raw", "Key": "dir/key.txt", "Body": b"hello world"}),
    ("s3", "ListObjectsV2", {"Bucket": "fuzz-raw", "Prefix": "dir/"}),
    (
        "s3",
        "DeleteObjects",
        {"Bucket": "fuzz-raw", "Delete": {"Objects": [{"Key": "dir/none"}]}},
    ),
    ("logs", "DescribeLogStreams", {"logGroupName": "/aws/braket/jobs"}),
    ("sts", "GetCallerIdentity", {}),
]


class _Captured(Exception):
    """Raised from botocore's before-send to keep the request instead of sending it."""


@dataclass(frozen=True)
class Raw:
    head: bytes  # request line and headers, without Content-Length and the blank line
    body: bytes


def capture(server: LiveServer, service: str, operation: str, params: dict[str, Any]) -> Raw:
    """The bytes boto3 would send for ``operation`` (signed with the dummy key)."""
    client = aws_client(service, server.url, "us-west-2", UNCHECKED)
    kept: list[Any] = []

    def keep(request: Any, **kwargs: Any) -> None:
        kept.append(request)
        raise _Captured

    client.meta.events.register("before-send", keep)
    with pytest.raises(_Captured):
        getattr(client, xform_name(operation))(**params)
    request = kept[0]
    url = urlsplit(request.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {url.netloc}"]
    for name, value in request.headers.items():
        if name.lower() not in ("host", "content-length", "transfer-encoding", "expect"):
            text = value.decode() if isinstance(value, bytes) else str(value)
            lines.append(f"{name}: {text}")
    body = request.body or b""
    if not isinstance(body, bytes):
        body = body.read() if hasattr(body, "read") else str(body).encode()
    return Raw("\r\n".join(lines).encode(), body)


Mutation = tuple[str, float, bytes]
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]),
        st.floats(min_value=0, max_value=1),
        st.binary(min_size=1, max_size=8)
        | st.sampled_from([b"\r\n", b"\x00", b"%", b"{", b"<", b"..", b"\xff\xfe", b":"]),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    buffer = bytearray(data)
    for kind, where, extra in mutations:
        at = int(where * len(buffer))
        if kind == "flip" and buffer:
            at = min(at, len(buffer) - 1)
            buffer[at] ^= extra[0] or 1
        elif kind == "insert":
            buffer[at:at] = extra
        elif kind == "delete":
            del buffer[at : at + len(extra)]
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "repeat":
            buffer[at:at] = buffer[at : at + 64] * 3
    return bytes(buffer)


def send_raw(port: int, head: bytes, body: bytes) -> int | None:
    """Send the request; the answer's status, or ``None`` when the server closed the
    connection without one (a request line it could not parse) or waits for more."""
    request = head + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            return None  # it waits for more (a mutated length or encoding): not an answer
    parts = answer.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1])


def _healthy(server: LiveServer) -> bool:
    with urllib.request.urlopen(f"{server.url}/_hybridjobs/health", timeout=10) as response:
        return bool(response.status == 200)


@settings(max_examples=RAW_EXAMPLES)
@given(
    seed=st.integers(min_value=0, max_value=len(SEEDS) - 1),
    head_mutations=st.lists(MUTATIONS, max_size=1),
    body_mutations=st.lists(MUTATIONS, max_size=1),
)
def test_mutated_requests_never_fail_on_the_server(
    fuzz_server: LiveServer,
    seed: int,
    head_mutations: list[list[Mutation]],
    body_mutations: list[list[Mutation]],
) -> None:
    raw = _seed(fuzz_server, seed)
    head = mutate(raw.head, head_mutations[0]) if head_mutations else raw.head
    body = mutate(raw.body, body_mutations[0]) if body_mutations else raw.body
    before = stored(fuzz_server)
    status = send_raw(fuzz_server.port, head, body)
    STATUSES[status or 0] += 1
    assert status is None or status < 500 or status == 501, (status, head, body)
    if status is None or status >= 400:
        assert stored(fuzz_server) == before, (status, head, body)


_SEEDS: dict[int, Raw] = {}


def _seed(server: LiveServer, index: int) -> Raw:
    if index not in _SEEDS:
        if not _SEEDS:
            s3 = aws_client("s3", server.url, "us-west-2", UNCHECKED)
            s3.create_bucket(
                Bucket="fuzz-raw", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
            )
        service, operation, params = SEEDS[index]
        _SEEDS[index] = capture(server, service, operation, params)
    return _SEEDS[index]


def test_the_server_still_answers_after_the_mutations(fuzz_server: LiveServer) -> None:
    for index in range(len(SEEDS)):
        raw = _seed(fuzz_server, index)
        assert send_raw(fuzz_server.port, raw.head, raw.body) in (200, 201), SEEDS[index][:2]
    assert _healthy(fuzz_server)
