"""Run a real ``hybridjobs serve`` subprocess and talk to it with real boto3 clients.

``start_server`` launches the CLI in its own session (so the whole process group can be
signalled and checked for leftovers), sends its output to ``<data_dir>/server.log`` and
returns once ``GET /_hybridjobs/health`` answers 200. ``LiveServer.stop`` sends SIGTERM,
falls back to SIGKILL, and fails loudly when the server needed it or left processes behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HEALTH_PATH = "/_hybridjobs/health"
DUMMY_ACCESS_KEY = "AKIDEXAMPLE"
DUMMY_SECRET_KEY = "secret"
START_DEADLINE_SECONDS = 30.0
STOP_GRACE_SECONDS = 15.0
LOG_TAIL_CHARS = 4000

# Settings of the API-test servers: nothing runs jobs, so every status a test sees is one it
# caused; capacity is pinned so quota answers do not depend on the machine.
API_TEST_SERVER_ENV: dict[str, str] = {
    "HYBRIDJOBS_RUN_SCHEDULER": "false",
    "HYBRIDJOBS_WARM_POOL": "false",
    "HYBRIDJOBS_CAPACITY_VCPUS": "64",
    "HYBRIDJOBS_CAPACITY_MEMORY_GIB": "256",
    "HYBRIDJOBS_CAPACITY_GPUS": "0",
    "HYBRIDJOBS_MAX_INSTANCES_PER_JOB": "5",
}

# Tests see every error as it happens: no silent client-side retries.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def aws_client(
    service: str, endpoint_url: str, region: str = "us-west-2", config: Config | None = None
) -> Any:
    """A boto3 client for ``service`` at ``endpoint_url`` with dummy credentials.

    Clients come from one cached boto3 Session per region (creating a Session loads every
    model again: ~150 ms), under a lock because Session.client is not thread-safe. The
    clients themselves are independent and may be used from any thread.
    """
    merged = NO_RETRIES if config is None else NO_RETRIES.merge(config)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(region)
        if session is None:
            session = boto3.session.Session(
                aws_access_key_id=DUMMY_ACCESS_KEY,
                aws_secret_access_key=DUMMY_SECRET_KEY,
                region_name=region,
            )
            _SESSIONS[region] = session
        return session.client(service, endpoint_url=endpoint_url, config=merged)


def server_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a server subprocess: ours minus any ``HYBRIDJOBS_*`` setting a
    developer may have exported (tests must not pick those up), plus ``overrides``.

    Task workers start at the first task rather than with every test server (most never
    run a task); the task tests start theirs with the server, as the default does.

    A test server stops its running jobs when it stops (``--stop-jobs-on-exit``), so no
    test leaves instances running on the machine; the default (jobs detach and the next
    start re-attaches) is tested in ``tests/ops/test_shutdown.py``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDJOBS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["HYBRIDJOBS_TASK_WORKERS_PRESTART"] = "false"
    env["HYBRIDJOBS_STOP_JOBS_ON_EXIT"] = "true"
    env.update(overrides or {})
    return env


@dataclass
class LiveServer:
    """A running ``hybridjobs serve`` process."""

    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(
        self, service: str = "braket", region: str = "us-west-2", config: Config | None = None
    ) -> Any:
        """A boto3 client for ``service`` pointed at this server (dummy credentials,
        no retries; ``config`` is merged on top)."""
        return aws_client(service, self.url, region, config)

    def log_text(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log_text()[-chars:]

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> int:
        """SIGTERM, wait up to ``grace_seconds``, then SIGKILL the whole process group.

        Returns the exit code. Raises AssertionError when SIGKILL was needed or when
        processes of the server's group outlive it (nothing may be orphaned).
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid)
                self.process.wait(timeout=10)
                raise AssertionError(
                    f"hybridjobs did not exit within {grace_seconds} s of SIGTERM and was "
                    f"killed.\n--- server log tail ---\n{self.log_tail()}"
                ) from None
        leftovers = _wait_group_gone(self.process.pid, deadline_seconds=5.0)
        if leftovers:
            _kill_group(self.process.pid)
            raise AssertionError(
                f"processes of the server's group outlived it: {leftovers}"
                f"\n--- server log tail ---\n{self.log_tail()}"
            )
        return self.process.returncode


# What the ``server_factory`` fixture hands out: start(env=None, extra_args=()) -> LiveServer.
ServerFactory = Callable[..., LiveServer]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid`` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _wait_group_gone(pgid: int, deadline_seconds: float) -> list[int]:
    """Poll until no live process is left in group ``pgid``; the survivors, if any."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        members = _group_members(pgid)
        if not members or time.monotonic() >= deadline:
            return members
        time.sleep(0.05)  # no event to await: the processes belong to nobody we can wait on


def _health_status(url: str, tls_ca: Path | None = None) -> int | None:
    context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca is not None else None
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=2, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def start_server(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    deadline_seconds: float = START_DEADLINE_SECONDS,
    tls_ca: Path | None = None,
) -> LiveServer:
    """Start ``hybridjobs serve`` on a free loopback port and wait until it is healthy.

    ``env`` adds to (and overrides) the inherited environment, which is stripped of any
    ``HYBRIDJOBS_*`` variables first. Raises RuntimeError with the log tail when the
    process exits early or is not healthy within ``deadline_seconds``. With ``tls_ca``
    the server speaks HTTPS (its ``extra_args`` name the certificate), checked with
    that CA file.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"{'https' if tls_ca is not None else 'http'}://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    command = [
        sys.executable,
        "-m",
        "hybridjobs.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(env),
            start_new_session=True,
        )
    server = LiveServer(url=url, port=port, data_dir=data_dir, process=process, log_path=log_path)
    deadline = time.monotonic() + deadline_seconds
    while True:
        if _health_status(url, tls_ca) == 200:
            return server
        try:
            code = process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            raise RuntimeError(
                f"hybridjobs serve exited with code {code} before it was healthy: "
                f"{' '.join(command)}\n--- server log tail ---\n{server.log_tail()}"
            )
        if time.monotonic() >= deadline:
            with contextlib.suppress(AssertionError):
                server.stop(grace_seconds=5)
            raise RuntimeError(
                f"hybridjobs serve was not healthy within {deadline_seconds} s: "
                f"{' '.join(command)}\n--- server log tail ---\n{server.log_tail()}"
            )
