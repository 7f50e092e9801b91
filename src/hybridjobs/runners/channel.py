"""The warm pool's wire format: length-prefixed JSON messages over a stream socket.

Each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (an
object). Used between the pool and each zygote, and between a zygote and its embryo.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from typing import Any

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 << 20
"""Upper bound of one message (an instance's environment fits many times over)."""


class ChannelClosed(Exception):
    """The other end of the channel closed it (or sent a truncated message)."""


def send_message(sock: socket.socket, message: Mapping[str, Any]) -> None:
    """Send one length-prefixed JSON message (blocking until it is all written)."""
    payload = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed("end of file on the zygote channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket) -> dict[str, Any]:
    """Receive one message; :class:`ChannelClosed` at end of file."""
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    if size > MAX_MESSAGE_BYTES:
        raise ChannelClosed(f"zygote channel message of {size} bytes is too large")
    message = json.loads(_recv_exactly(sock, size))
    if not isinstance(message, dict):
        raise ChannelClosed("zygote channel message is not a JSON object")
    return message
