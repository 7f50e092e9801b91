"""A dependency-free all-reduce (sum) over TCP for data-parallel jobs.

Rank 0 listens on ``MASTER_ADDR:MASTER_PORT``; every other rank connects to it once and
says its rank. ``sum(vector)``: each rank sends its vector, rank 0 adds them up and sends
the total back, so every rank returns the same sum. Messages are length-prefixed
little-endian float64 arrays. With ``world == 1`` nothing touches the network.
"""

from __future__ import annotations

import socket
import struct
import time

import numpy as np

_LENGTH = struct.Struct("<Q")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def send_array(sock: socket.socket, array: np.ndarray) -> None:
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    sock.sendall(_LENGTH.pack(len(data)) + data)


def recv_array(sock: socket.socket) -> np.ndarray:
    (size,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    return np.frombuffer(_recv_exact(sock, size), dtype="<f8").copy()


class AllReduce:
    """Sum vectors across ``world`` ranks (star topology through rank 0)."""

    def __init__(self, rank: int, world: int, address: tuple[str, int], timeout: float = 60.0):
        self.rank, self.world = rank, world
        self.peers: list[socket.socket] = []
        if world == 1:
            return
        if rank == 0:
            with socket.create_server(address) as server:
                server.settimeout(timeout)
                joined = {}
                while len(joined) < world - 1:
                    peer, _ = server.accept()
                    peer.settimeout(timeout)
                    joined[int(recv_array(peer)[0])] = peer
            self.peers = [joined[r] for r in sorted(joined)]
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                master = socket.create_connection(address, timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # rank 0 is not listening yet
        send_array(master, np.array([rank], dtype=float))
        self.peers = [master]

    def sum(self, vector: np.ndarray) -> np.ndarray:
        """The element-wise sum of every rank's ``vector`` (same shape on every rank)."""
        vector = np.asarray(vector, dtype=float)
        if self.world == 1:
            return vector.copy()
        if self.rank != 0:
            send_array(self.peers[0], vector.ravel())
            return recv_array(self.peers[0]).reshape(vector.shape)
        total = vector.ravel().copy()
        for peer in self.peers:
            total += recv_array(peer)
        for peer in self.peers:
            send_array(peer, total)
        return total.reshape(vector.shape)

    def close(self) -> None:
        for peer in self.peers:
            peer.close()
        self.peers = []
