"""Read a request body from ASGI ``receive`` within its size and time limits.

The body arrives in pieces (uvicorn hands over at most what it buffered, and pauses the
socket above 64 KiB), so a body is never read faster than it is consumed here, and the
limits hold while it arrives: more bytes than ``limit`` (whatever ``Content-Length``
said, as with chunked transfer encoding) or a pause longer than ``idle_timeout`` end the
read with a :class:`~hybridjobs.http.refusals.RequestRefused`. An ``aws-chunked`` body is
decoded (and its chunk signatures checked) as it arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.http.refusals import Reason, RequestRefused
from hybridjobs.wire.awschunked import AwsChunkedDecoder, ChunkedBodyError, ChunkSignatureError

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientDisconnected(Exception):
    """The client went away before its body was complete (nothing can be answered)."""


@dataclass
class Body:
    """A body as read: ``data`` is the payload (decoded when it was ``aws-chunked``),
    ``sha256`` the hex digest of the bytes as sent (when asked for), ``trailers`` the
    ``aws-chunked`` trailer headers."""

    data: bytes
    sha256: str | None = None
    trailers: dict[str, str] = field(default_factory=dict)


def too_large(size: int, limit: int) -> RequestRefused:
    """The refusal of a body of ``size`` bytes (or more) where ``limit`` is allowed."""
    return RequestRefused(
        Reason.TOO_LARGE,
        f"Your proposed upload exceeds the maximum allowed size: {size} bytes where at most "
        f"{limit} are allowed.",
        {"ProposedSize": str(size), "MaxSizeAllowed": str(limit)},
    )


async def read_body(
    receive: Receive,
    *,
    limit: int,
    idle_timeout: float,
    hash_body: bool = False,
    decoder: AwsChunkedDecoder | None = None,
) -> Body:
    """Read the whole body, at most ``limit`` bytes as sent, waiting at most
    ``idle_timeout`` seconds for each piece.

    Raises :class:`RequestRefused` (too large, timed out, malformed or wrongly signed
    ``aws-chunked`` data) or :class:`ClientDisconnected`.
    """
    pieces: list[bytes] = []
    digest = hashlib.sha256() if hash_body else None
    received = 0
    more = True
    while more:
        try:
            message = await asyncio.wait_for(receive(), idle_timeout)
        except TimeoutError:
            raise RequestRefused(
                Reason.TIMEOUT,
                "Your socket connection to the server was not read from or written to within "
                f"the timeout period ({idle_timeout:g} s without data).",
            ) from None
        if message["type"] != "http.request":
            raise ClientDisconnected()
        chunk: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        received += len(chunk)
        if received > limit:
            raise too_large(received, limit)
        if digest is not None:
            digest.update(chunk)
        if decoder is not None:
            chunk = _decode(decoder, chunk)
        if chunk:
            pieces.append(chunk)
    trailers = _finish(decoder) if decoder is not None else {}
    return Body(b"".join(pieces), digest.hexdigest() if digest else None, trailers)


def _decode(decoder: AwsChunkedDecoder, chunk: bytes) -> bytes:
    try:
        return decoder.feed(chunk)
    except ChunkSignatureError as error:
        raise RequestRefused(Reason.CHUNK_SIGNATURE, str(error)) from None
    except ChunkedBodyError as error:
        raise RequestRefused(Reason.CHUNK_FORMAT, str(error)) from None


def _finish(decoder: AwsChunkedDecoder) -> dict[str, str]:
    try:
        return decoder.finish()
    except ChunkSignatureError as error:
        raise RequestRefused(Reason.CHUNK_SIGNATURE, str(error)) from None
    except ChunkedBodyError as error:
        raise RequestRefused(Reason.CHUNK_FORMAT, str(error)) from None
