"""A zygote says what is wrong with its channel (in its log) instead of swallowing it, and
the pool logs what is wrong with a zygote's messages."""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hybridjobs.runners.channel import recv_message, send_message
from hybridjobs.runners.warmpool import WarmPool, _Zygote


def test_zygote_logs_unknown_bad_and_malformed_messages(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    log_path = tmp_path / "zygote.log"
    with open(log_path, "wb") as log_file:
        zygote = subprocess.Popen(
            [sys.executable, "-m", "hybridjobs.runners.zygote", "--fd", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    theirs.close()
    try:
        ours.settimeout(60)
        assert recv_message(ours)["op"] == "ready"
        send_message(ours, {"op": "bogus"})
        send_message(ours, {"op": "spawn"})  # no spec, env, ...
        assert recv_message(ours)["op"] == "error"  # answered: the zygote read both
        ours.sendall(struct.pack(">I", 5) + b"{oops")  # not JSON: the stream is lost
        assert zygote.wait(60) == 0
    finally:
        ours.close()
        if zygote.poll() is None:
            zygote.kill()
            zygote.wait()
    log = log_path.read_text()
    assert "ignoring a message of unknown op: {'op': 'bogus'}" in log, log
    assert "refusing a bad spawn command: KeyError(" in log, log
    assert "the pool's channel broke: JSONDecodeError" in log, log


def test_pool_logs_a_malformed_zygote_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = WarmPool(sys.executable, 0, [], tmp_path)
    ours, theirs = socket.socketpair()
    process = subprocess.Popen(["true"])
    zygote = _Zygote(1, process, ours, process.pid, [], {}, 1, 1, [])
    with caplog.at_level(logging.ERROR, logger="hybridjobs.runners.warmpool"):
        send_message(theirs, {"op": "mystery"})
        send_message(theirs, {"op": "exit", "pid": "not a number", "code": 0})
        pool._read(zygote)
    theirs.close()
    messages = [record.getMessage() for record in caplog.records]
    assert any("unknown op: {'op': 'mystery'}" in m for m in messages), messages
    assert any("malformed message (ValueError" in m for m in messages), messages
    assert not zygote.alive
