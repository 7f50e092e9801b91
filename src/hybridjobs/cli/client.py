"""How the CLI reaches a service: endpoint, region, credentials, boto3 clients, job lookup.

The CLI talks to a running hybridjobs ONLY through the AWS API (boto3 ``braket``, ``s3``,
``logs`` and ``sts`` clients), exactly as any other client would; so it works against any
hybridjobs deployment reachable over HTTP.

* endpoint: ``--endpoint``, else ``$HYBRIDJOBS_ENDPOINT``, else ``http://127.0.0.1:8750``;
* region: ``--region``, else ``$AWS_REGION`` / ``$AWS_DEFAULT_REGION``, else ``us-east-1``;
* credentials: whatever boto3 finds; dummy ones when none are configured (a loopback
  hybridjobs without configured access keys accepts any).
"""

from __future__ import annotations

import argparse
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.cli.exits import CliError, UsageError

DEFAULT_ENDPOINT = "http://127.0.0.1:8750"
ENDPOINT_ENV = "HYBRIDJOBS_ENDPOINT"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
DUMMY_ACCESS_KEY = "hybridjobs"
DUMMY_SECRET_KEY = "hybridjobs"
LOG_GROUP = "/aws/braket/jobs"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint`` and ``--region``, shared by every command that calls the service."""
    group = parser.add_argument_group("service")
    group.add_argument(
        "--endpoint",
        metavar="URL",
        help=f"hybridjobs endpoint (env {ENDPOINT_ENV}; default {DEFAULT_ENDPOINT})",
    )
    group.add_argument(
        "--region",
        help=f"AWS region to sign requests for (env AWS_REGION; default {DEFAULT_REGION})",
    )


def endpoint_from(args: argparse.Namespace) -> str:
    """The endpoint URL the arguments and environment select."""
    value = getattr(args, "endpoint", None) or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    return str(value).rstrip("/")


def region_from(args: argparse.Namespace) -> str:
    """The region the arguments and environment select."""
    value = (
        getattr(args, "region", None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    return str(value)


@dataclass
class Connection:
    """boto3 clients for one endpoint and region, made on first use (thread-safe)."""

    endpoint: str
    region: str
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _account: str | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Connection:
        return cls(endpoint_from(args), region_from(args))

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` (``braket``, ``s3``, ``logs``, ``sts``)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._make_client(service)
            return self._clients[service]

    def _make_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=self.region)
        if session.get_credentials() is None:
            session = boto3.session.Session(
                aws_access_key_id=DUMMY_ACCESS_KEY,
                aws_secret_access_key=DUMMY_SECRET_KEY,
                region_name=self.region,
            )
        config = Config(
            retries={"total_max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            s3={"addressing_style": "path"},
            user_agent_extra="hybridjobs-cli",
        )
        return session.client(service, endpoint_url=self.endpoint, config=config)

    @property
    def braket(self) -> Any:
        return self.client("braket")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def logs(self) -> Any:
        return self.client("logs")

    def account_id(self) -> str:
        """The caller's account (STS GetCallerIdentity); the default account when the
        service does not answer STS."""
        if self._account is None:
            from botocore.exceptions import ClientError

            try:
                self._account = str(self.client("sts").get_caller_identity()["Account"])
            except ClientError:
                self._account = DEFAULT_ACCOUNT
        return self._account

    def get_job(self, job_arn: str) -> dict[str, Any]:
        """GetJob with the queue position, as the SDK asks for it."""
        job: dict[str, Any] = self.braket.get_job(
            jobArn=job_arn, additionalAttributeNames=["QueueInfo"]
        )
        job.pop("ResponseMetadata", None)
        return job

    def search_jobs(self, filters: list[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
        """Every job summary matching ``filters``, newest first, page by page."""
        token: str | None = None
        while True:
            request: dict[str, Any] = {"filters": filters or [], "maxResults": 100}
            if token:
                request["nextToken"] = token
            page = self.braket.search_jobs(**request)
            yield from page.get("jobs", [])
            token = page.get("nextToken")
            if not token:
                return


def job_id_of(job_arn: str) -> str:
    """The last part of a job ARN (a UUID for every job hybridjobs creates)."""
    return job_arn.rsplit("/", 1)[-1]


def resolve_job(connection: Connection, reference: str) -> dict[str, Any]:
    """GetJob for ``reference``: a job ARN, the UUID at the end of one, or a job name.

    A name must be unique: several jobs with that name raise :class:`UsageError` listing
    them (pass the ARN or UUID instead). A reference that matches nothing raises a
    ``ResourceNotFoundException`` :class:`CliError`.
    """
    reference = reference.strip()
    if reference.startswith("arn:"):
        return connection.get_job(reference)
    if _UUID.fullmatch(reference):
        found = _job_by_uuid(connection, reference.lower())
        if found is not None:
            return found
    matches = list(
        connection.search_jobs([{"name": "jobName", "operator": "EQUAL", "values": [reference]}])
    )
    if len(matches) == 1:
        return connection.get_job(matches[0]["jobArn"])
    if not matches:
        raise CliError(
            f"no job has the ARN, id or name {reference!r}", code="ResourceNotFoundException"
        )
    listing = "; ".join(
        f"{m['jobArn']} ({m['status']}, created {m['createdAt']:%Y-%m-%d %H:%M:%S})"
        for m in matches
    )
    raise UsageError(
        f"{len(matches)} jobs are named {reference!r}; pass one ARN or id instead: {listing}"
    )


def _job_by_uuid(connection: Connection, job_id: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    arn = f"arn:aws:braket:{connection.region}:{connection.account_id()}:job/{job_id}"
    try:
        return connection.get_job(arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    for summary in connection.search_jobs():
        if job_id_of(summary["jobArn"]).lower() == job_id:
            return connection.get_job(summary["jobArn"])
    return None
