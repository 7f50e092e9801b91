"""A moto S3 server in a subprocess: an S3-compatible store for tests of the S3 stores."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator

from support.server import free_port

MOTO_ACCESS_KEY = "testing"
MOTO_SECRET_KEY = "testing"
START_DEADLINE_SECONDS = 60.0


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run ``python -m moto.server`` on a free loopback port; yields its endpoint URL once
    its banner line appears, and stops it on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    ready = threading.Event()
    banner: list[str] = []

    def drain() -> None:  # keeps reading so moto never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            banner.append(line)
            if "Running on" in line:
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        started = ready.wait(START_DEADLINE_SECONDS) and proc.poll() is None
        assert started, "moto did not start:\n" + "".join(banner)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
