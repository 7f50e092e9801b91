"""Bounded requests: large bodies are refused before they are read, slow clients are
disconnected, and the service's own status page needs a signature once keys are set.

Bodies are streamed from generators over raw sockets (never held in this process); the
server's memory is read from ``/proc/<pid>/status`` before and after.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.server import API_TEST_SERVER_ENV, LiveServer, ServerFactory

from auth.conftest import KEYED_ENV
from auth.signing import Call, error_code, send, sign

GIB = 2**30
MB = 10**6
BODY_TIMEOUT = 1.0
HEADER_TIMEOUT = 1.0
SLACK = 3.0  # seconds a refusal may take beyond its timeout on a busy machine


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {
        **KEYED_ENV,
        "HYBRIDJOBS_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "HYBRIDJOBS_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def zeros(total: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    """``total`` bytes of zeros, one piece at a time (one piece in memory)."""
    block = bytes(piece)
    sent = 0
    while sent < total:
        size = min(piece, total - sent)
        yield block if size == piece else bytes(size)
        sent += size


def chunked_transfer(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` in HTTP/1.1 chunked transfer encoding."""
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


@dataclass
class Exchange:
    """What a raw exchange came to: the response bytes, how much of the body went out,
    whether the server closed the connection, and when."""

    response: bytes
    body_sent: int
    closed: bool
    seconds: float

    @property
    def status(self) -> int:
        return int(self.response.split(b" ", 2)[1]) if self.response else 0

    @property
    def body(self) -> bytes:
        return self.response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.response else b""


def exchange(port: int, head: bytes, body: Iterator[bytes], deadline: float = 60.0) -> Exchange:
    """Send ``head``, then ``body`` while the server reads it; stop sending as soon as the
    server answers, and read its answer until it closes the connection (or
    ``deadline`` seconds pass)."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    sock.sendall(head)
    sock.setblocking(False)
    response, sent, pending, sending, closed = b"", 0, b"", True, False
    try:
        while time.monotonic() - started < deadline:
            wanted = [sock] if sending else []
            readable, writable, _ = select.select([sock], wanted, [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    closed = True
                    break
                if not data:
                    closed = True
                    break
                response += data
                sending = False
            elif writable:
                pending = pending or next(body, b"")
                if not pending:
                    sending = False
                    continue
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    sending = False
                    continue
                sent += count
                pending = pending[count:]
    finally:
        sock.close()
    return Exchange(response, sent, closed, time.monotonic() - started)


def request_head(method: str, path: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def warm(server: LiveServer) -> None:
    """One signed call of each kind, so lazy imports do not count as growth."""
    server.client("braket").search_devices(filters=[])
    s3 = server.client("s3")
    s3.create_bucket(
        Bucket="bounded", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    s3.put_object(Bucket="bounded", Key="warm", Body=b"x" * 1000)


@pytest.fixture(scope="module")
def warmed(server: LiveServer) -> LiveServer:
    warm(server)
    return server


def test_a_gigabyte_unsigned_upload_is_refused_unread(warmed: LiveServer) -> None:
    before = rss_bytes(warmed.process.pid)
    head = request_head("PUT", "/bounded/big", warmed.port, {"Content-Length": str(GIB)})
    result = exchange(warmed.port, head, zeros(GIB))
    grown = rss_bytes(warmed.process.pid) - before
    assert result.status == 403 and b"<Code>AccessDenied</Code>" in result.body, result.response
    assert result.closed
    assert result.body_sent < GIB // 4
    assert grown < 50 * MB, f"the server grew by {grown / MB:.1f} MB"


def test_a_gigabyte_api_body_is_refused_before_it_is_read(warmed: LiveServer) -> None:
    """Signed (every check but the body's hash passes), but beyond the API body limit."""
    call = Call("POST", "/devices", b"", {"Content-Type": "application/json"})
    headers = sign(call, warmed.port, service="braket")
    headers["Content-Length"] = str(GIB)
    before = rss_bytes(warmed.process.pid)
    result = exchange(
        warmed.port, request_head("POST", "/devices", warmed.port, headers), zeros(GIB)
    )
    grown = rss_bytes(warmed.process.pid) - before
    assert result.status == 413 and b"RequestEntityTooLargeException" in result.body
    assert result.closed
    assert grown < 50 * MB, f"the server grew by {grown / MB:.1f} MB"


def test_a_gigabyte_chunked_transfer_is_cut_off_at_the_limit(warmed: LiveServer) -> None:
    """No Content-Length to refuse early: the body is counted as it arrives."""
    call = Call("POST", "/devices", b"", {"Content-Type": "application/json"})
    headers = sign(call, warmed.port, service="braket")
    headers["Transfer-Encoding"] = "chunked"
    before = rss_bytes(warmed.process.pid)
    head = request_head("POST", "/devices", warmed.port, headers)
    result = exchange(warmed.port, head, chunked_transfer(zeros(GIB)))
    grown = rss_bytes(warmed.process.pid) - before
    assert result.status == 413 and b"RequestEntityTooLargeException" in result.body
    assert result.closed
    assert result.body_sent < GIB // 4
    assert grown < 50 * MB, f"the server grew by {grown / MB:.1f} MB"


def test_an_s3_upload_over_the_object_limit_is_refused_before_it_is_read(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(env={**KEYED_ENV, "HYBRIDJOBS_MAX_OBJECT_BODY_BYTES": str(2**20)})
    s3 = server.client("s3")
    s3.create_bucket(Bucket="limit", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket="limit", Key="fits", Body=bytes(2**20))
    with pytest.raises(Exception) as raised:
        s3.put_object(Bucket="limit", Key="too-big", Body=bytes(2**20 + 1))
    response: Any = getattr(raised.value, "response", {})
    assert response.get("Error", {}).get("Code") == "EntityTooLarge", raised.value


def test_a_stalled_body_is_closed_within_the_body_timeout(warmed: LiveServer) -> None:
    for service, call in (
        ("s3", Call("PUT", "/bounded/stalled", b"x" * 100)),
        ("braket", Call("POST", "/devices", b'{"filters": []}', {"Content-Type": "x"})),
    ):
        headers = sign(call, warmed.port, service=service)
        headers["Content-Length"] = str(len(call.body))
        head = request_head(call.method, call.path, warmed.port, headers)
        result = exchange(warmed.port, head, iter(()), deadline=BODY_TIMEOUT + 30)
        assert result.closed, service
        assert BODY_TIMEOUT * 0.9 <= result.seconds < BODY_TIMEOUT + SLACK, result.seconds
        code = b"<Code>RequestTimeout</Code>" if service == "s3" else b"RequestTimeoutException"
        assert code in result.body, result.response


def test_a_stalled_head_is_closed_within_the_header_timeout(warmed: LiveServer) -> None:
    partial = b"GET /devices HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    result = exchange(warmed.port, partial, iter(()), deadline=HEADER_TIMEOUT + 30)
    assert result.closed and result.status == 408
    assert HEADER_TIMEOUT * 0.9 <= result.seconds < HEADER_TIMEOUT + SLACK, result.seconds
    silent = exchange(warmed.port, b"", iter(()), deadline=HEADER_TIMEOUT + 30)
    assert silent.closed and silent.response == b""
    assert silent.seconds < HEADER_TIMEOUT + SLACK


def test_an_oversized_head_is_refused(warmed: LiveServer) -> None:
    head = request_head("GET", "/devices", warmed.port, {"X-Big": "a" * 100_000})
    result = exchange(warmed.port, head, iter(()))
    assert result.closed and result.status == 431


def test_keep_alive_connections_still_serve_several_requests(warmed: LiveServer) -> None:
    """The head timer starts again with each request, not only with the connection."""
    braket = warmed.client("braket")
    for _ in range(3):
        braket.search_devices(filters=[])
        time.sleep(HEADER_TIMEOUT / 2)  # idle between requests, under the keep-alive limit
    braket.search_devices(filters=[])


def test_status_needs_a_signature_when_keys_are_configured(warmed: LiveServer) -> None:
    call = Call("GET", "/_hybridjobs/status")
    unsigned = send(warmed.port, call, {})
    assert unsigned.status == 403
    assert error_code("braket", "GetDevice", unsigned) == "MissingAuthenticationTokenException"
    forged = sign(call, warmed.port, service="braket", secret="wrong")
    assert send(warmed.port, call, forged).status == 403
    signed = sign(call, warmed.port, service="braket")
    response = send(warmed.port, call, signed)
    assert response.status == 200 and b"running_jobs" in response.body


def test_status_is_open_without_keys(server_factory: ServerFactory) -> None:
    server = server_factory(env=dict(API_TEST_SERVER_ENV))
    response = send(server.port, Call("GET", "/_hybridjobs/status"), {})
    assert response.status == 200 and b"running_jobs" in response.body
