"""What every instance of a job is started with, whatever runs it: ports, interpreter,
requirements cache and the job's credentials."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

from hybridjobs.accounts.jobkeys import EXPIRY_GRACE_SECONDS, JobCredentials
from hybridjobs.accounts.setup import SecretStore, job_keys
from hybridjobs.jobs.model import Job


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
    """Per-interpreter cache of installed requirements (packages differ by Python).
    ``python`` is the interpreter's path on this machine, or, for an interpreter inside a
    container image, any text naming the runtime and the image (``container …``)."""
    identity = python if python.startswith("container ") else str(Path(python).resolve())
    tag = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return data_dir / "cache" / "requirements" / tag


def job_credentials(store: object, job: Job) -> JobCredentials:
    """The job's own short-lived credentials (``ASIA…`` key, secret, session token), valid
    in the job's account until it ends (or its maximum runtime and an hour have passed
    since it was created); never an operator's key. The same job always gets the same
    credentials, so instances re-attached after a restart keep working."""
    if not isinstance(store, SecretStore):
        raise TypeError(f"{type(store).__name__} keeps no service secrets")
    expiration = int(job.created_at.timestamp()) + job.max_runtime_seconds + EXPIRY_GRACE_SECONDS
    return job_keys(store).issue(job.job_arn, job.account_id, expiration)
