"""What signature checking and accounts cost an API request.

``python -m benchmarks auth [--rounds 5] [--duration 1.0]`` starts two hybridjobs servers
(SQLite, scheduler off): ``open`` (no keys: signatures are not checked) and ``keys`` (two
accounts' keys configured: every signature is verified and every lookup is scoped). It
drives them with one boto3 client each, interleaved round by round, with three callers:

- ``open``: the open server, any key;
- ``operator key``: the keyed server, an operator's key (a dictionary lookup);
- ``job key``: the keyed server, a job's own ``ASIA…`` key with its session token (an
  HMAC check and a read of the job's status from the database, per request);

and two operations: Braket ``GetJob`` (JSON: the body's hash is checked after the body)
and S3 ``GetObject`` of a small object (the payload hash is in the head). Prints
requests/s and the server's CPU milliseconds per request (medians over the rounds, with
min and max): the figure to read on a busy machine is the CPU per request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.api_throughput import cpu_seconds
from benchmarks.harness import REGION, Server, machine, table

ACCOUNT = "111111111111"
KEY, SECRET = "AKIDBENCH", "bench-secret"
KEYS = {
    KEY: {"secret": SECRET, "account": ACCOUNT},
    "AKIDOTHER": {"secret": "o", "account": "222222222222"},
}
BASE_ENV = {"HYBRIDJOBS_RUN_SCHEDULER": "false", "HYBRIDJOBS_WARM_POOL": "false"}
BUCKET = f"amazon-braket-{REGION}-{ACCOUNT}"


def _client(service: str, url: str, key: str, secret: str, token: str | None = None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    )
    config = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
    return session.client(service, endpoint_url=url, config=config)


def _prepare(server: Server, key: str, secret: str) -> str:
    """A bucket, a small object and a queued job of the caller's; the job's ARN."""
    s3 = _client("s3", server.url, key, secret)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="small", Body=b"x" * 1024)
    braket = _client("braket", server.url, key, secret)
    arn: str = braket.create_job(
        jobName=f"bench-{uuid.uuid4().hex[:8]}",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
        algorithmSpecification={
            "scriptModeConfig": {"entryPoint": "b", "s3Uri": f"s3://{BUCKET}/b.py"}
        },
        outputDataConfig={"s3Path": f"s3://{BUCKET}/out"},
        instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
        deviceConfig={"device": "local:braket/default"},
    )["jobArn"]
    return arn


def _job_key(server: Server, arn: str) -> tuple[str, str, str]:
    """The credentials the service would give the job ``arn`` (read from its database)."""
    from hybridjobs.accounts.setup import job_keys
    from hybridjobs.store.sql import SqlJobStore

    store = SqlJobStore(f"sqlite:///{server.data_dir / 'hybridjobs.db'}")
    try:
        issued = job_keys(store).issue(arn, ACCOUNT, int(time.time()) + 3600)
    finally:
        store.close()
    return issued.access_key_id, issued.secret_access_key, issued.session_token


def _phase(
    server: Server, client: Any, operation: str, arn: str, duration: float
) -> tuple[float, float]:
    """(requests/s, server CPU ms per request) of ``operation`` for ``duration`` s."""

    def once() -> None:
        if operation == "GetJob":
            client.get_job(jobArn=arn)
        else:
            client.get_object(Bucket=BUCKET, Key="small")["Body"].read()

    for _ in range(5):
        once()
    cpu, count, begin = cpu_seconds(server.process.pid), 0, time.monotonic()
    while time.monotonic() - begin < duration:
        once()
        count += 1
    seconds = time.monotonic() - begin
    return count / seconds, (cpu_seconds(server.process.pid) - cpu) * 1000 / count


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks auth", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hj-bench-auth-") as tmp:
        open_server = Server("open", Path(tmp) / "open", BASE_ENV)
        keyed = Server(
            "keys", Path(tmp) / "keys", {**BASE_ENV, "HYBRIDJOBS_CREDENTIALS": json.dumps(KEYS)}
        )
        try:
            arns = {
                "open": _prepare(open_server, KEY, SECRET),
                "keys": _prepare(keyed, KEY, SECRET),
            }
            job_key = _job_key(keyed, arns["keys"])
            callers = {
                "open": (open_server, arns["open"], (KEY, SECRET, None)),
                "operator key": (keyed, arns["keys"], (KEY, SECRET, None)),
                "job key": (keyed, arns["keys"], job_key),
            }
            clients = {
                (caller, service): _client(service, server.url, *creds)
                for caller, (server, _, creds) in callers.items()
                for service in ("braket", "s3")
            }
            samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for _ in range(args.rounds):
                for operation, service in (("GetJob", "braket"), ("GetObject", "s3")):
                    for caller, (server, arn, _) in callers.items():
                        result = _phase(
                            server, clients[(caller, service)], operation, arn, args.duration
                        )
                        samples.setdefault((operation, caller), []).append(result)
        finally:
            open_server.stop()
            keyed.stop()
    rows = []
    for (operation, caller), values in samples.items():
        rates = [rate for rate, _ in values]
        cpus = [cpu for _, cpu in values]
        rows.append(
            [
                operation,
                caller,
                f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})",
                f"{statistics.median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f})",
            ]
        )
    print(
        table(["operation", "caller", "requests/s, one client", "server CPU ms/request"], rows, 2)
    )
    print(f"\n{args.rounds} rounds of {args.duration} s each; {machine()}")
    return 0
