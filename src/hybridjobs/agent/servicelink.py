"""The instance agent's link to the service: boto3 clients of its Logs and S3 surfaces,
made with the job's own credentials, and made again when the service moves.

All agents of a process share one boto3 session (:func:`_shared_session`): a new session
per client reloads the service model, ~0.1-0.3 s of an instance's start on a busy machine.
"""

from __future__ import annotations

import threading
from typing import Any

from hybridjobs.agent.plan import AgentPlan
from hybridjobs.objects import ObjectStore

_SESSION: Any = None
"""The process's boto3 session: every agent's clients are made from it (a new session per
client reloads the service model: ~0.1-0.3 s of an instance's start on a busy machine)."""
_SESSION_LOCK = threading.Lock()
"""boto3 sessions are not thread-safe: clients are made from ``_SESSION`` under this."""


class ServiceLink:
    """The agent's clients of the service's Logs and S3 surfaces (the job's credentials),
    made again for the service's new address after :meth:`redirect`: a service that
    restarts may listen elsewhere, and tells its agents so when it re-attaches to them.

    :meth:`redirect` may be called from any thread; the clients are used by one."""

    def __init__(self, plan: AgentPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._wanted = plan.endpoint_url
        self._endpoint: str | None = None
        self._logs: Any = None
        self._objects: ObjectStore | None = None

    def redirect(self, endpoint_url: str) -> None:
        """Reach the service at ``endpoint_url`` from the next use on."""
        with self._lock:
            self._wanted = endpoint_url

    @property
    def endpoint_url(self) -> str:
        with self._lock:
            return self._wanted

    def logs(self) -> Any:
        """A boto3 ``logs`` client for the service's current address."""
        self._connect()
        return self._logs

    def objects(self) -> ObjectStore:
        """The object store behind the service's current S3 surface."""
        self._connect()
        assert self._objects is not None
        return self._objects

    def _connect(self) -> None:
        wanted = self.endpoint_url
        if wanted == self._endpoint and self._objects is not None:
            return
        from botocore.config import Config

        from hybridjobs.objects.s3 import S3ObjectStore

        plan = self.plan
        with _SESSION_LOCK:
            session = _shared_session()
            self._logs = session.client(
                "logs",
                endpoint_url=wanted,
                region_name=plan.region,
                aws_access_key_id=plan.access_key_id,
                aws_secret_access_key=plan.secret_access_key,
                aws_session_token=plan.session_token or None,
                config=Config(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            )
            self._objects = S3ObjectStore(
                wanted,
                plan.region,
                plan.access_key_id,
                plan.secret_access_key,
                session_token=plan.session_token or None,
                session=session,
            )
        self._endpoint = wanted


def _shared_session() -> Any:
    """The process's boto3 session, made once (call with ``_SESSION_LOCK`` held)."""
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session()
    return _SESSION
