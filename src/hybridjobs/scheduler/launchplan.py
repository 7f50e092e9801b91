"""What every instance of a job is started with, whatever runs it: ports, interpreter,
requirements cache and the job's credentials."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port free on this machine now (the job's ``MASTER_PORT``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def interpreter(configured: str | None, settings: Any) -> str:
    """The python to run an instance with: a configured interpreter or virtualenv for the
    job's image, else the service's own."""
    if not configured:
        return str(settings.python_executable)
    path = Path(configured)
    if path.is_dir():
        return str(path / "bin" / "python")
    return configured


def requirements_cache(data_dir: Path, python: str) -> Path:
    """Per-interpreter cache of installed requirements (packages differ by Python)."""
    tag = hashlib.sha256(str(Path(python).resolve()).encode()).hexdigest()[:12]
    return data_dir / "cache" / "requirements" / tag


def job_credentials(credentials: dict[str, str]) -> tuple[str, str]:
    """The access key and secret a job's instances sign their calls with."""
    if credentials:
        key = sorted(credentials)[0]
        return key, credentials[key]
    return "hybridjobs-job", "hybridjobs-job-secret"
