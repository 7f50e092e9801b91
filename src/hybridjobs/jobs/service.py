"""The Braket job operations: one method per operation, wire names in and out.

Inputs are already model-validated parameter dicts (wire member names); outputs are dicts
the wire layer serializes. Every job the service touches is scoped to the caller's account.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hybridjobs.accounts.quotas import Quotas
from hybridjobs.arns import new_job_arn, parse_job_arn
from hybridjobs.errors import (
    AccessDeniedException,
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from hybridjobs.jobs import rules
from hybridjobs.jobs.admission import Capacity, job_needs, why_never_fits
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.listorder import SearchOrder, decode_page_token, encode_page_token
from hybridjobs.jobs.model import (
    MAX_FAILURE_REASON,
    TERMINAL_STATUSES,
    Job,
    JobEvent,
    JobEventType,
    JobStatus,
    utcnow,
)
from hybridjobs.jobs.ports import IdempotencyConflict, IdempotencyKey, JobStore, TagMatch
from hybridjobs.paging import decode_token, encode_token

DEFAULT_MAX_RUNTIME_SECONDS = 432000
DEFAULT_CHECKPOINT_LOCAL_PATH = "/opt/braket/checkpoints/"
DEFAULT_PAGE_SIZE = 20
MAX_EVENTS = 20


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account the request belongs to and the region it addressed."""

    account_id: str
    region: str


@dataclass(frozen=True)
class JobLimits:
    """Limits CreateJob enforces before storing a job."""

    max_instances_per_job: int
    instance_types: dict[str, InstanceResources]
    capacity: Capacity
    largest_machine: Capacity | None = None
    """On a cluster, the largest machine: one instance must fit on one machine."""
    image_problem: Callable[[str | None], str | None] | None = None
    """Why a job's ``containerImage.uri`` cannot run here (``None``: every image can)."""


def request_hash(params: dict[str, Any]) -> str:
    """A stable hash of a CreateJob request, ignoring its client token."""
    material = {k: v for k, v in params.items() if k != "clientToken"}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


RESERVED_TAG_PREFIX = "aws:"
"""Tag keys starting with this (in any case) are reserved for AWS's own use."""


MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def reserved_tag_problems(tags: dict[str, str] | None, member: str = "tags") -> list[str]:
    """What AWS refuses in ``tags`` (TagResource, and the ``tags`` of Create* requests):
    keys with the reserved ``aws:`` prefix, more than 50 tags, keys of 0 or over 128
    characters, values over 256 characters."""
    tags = tags or {}
    problems = [
        f"{member}: the tag key {key!r} uses the prefix {RESERVED_TAG_PREFIX!r}, which is "
        "reserved for AWS use"
        for key in sorted(tags)
        if key.lower().startswith(RESERVED_TAG_PREFIX)
    ]
    if len(tags) > MAX_TAGS:
        problems.append(f"{member}: {len(tags)} tags, more than the {MAX_TAGS} allowed")
    for key in sorted(tags):
        if not 1 <= len(key) <= MAX_TAG_KEY:
            problems.append(f"{member}: a tag key has {len(key)} characters (1 to {MAX_TAG_KEY})")
        if len(str(tags[key])) > MAX_TAG_VALUE:
            problems.append(
                f"{member}: the value of tag {key[:40]!r} has {len(str(tags[key]))} characters "
                f"(at most {MAX_TAG_VALUE})"
            )
    return problems


def check_tags(tags: dict[str, str] | None) -> None:
    """ValidationException naming every reserved key of ``tags``; nothing when none is."""
    problems = reserved_tag_problems(tags)
    if problems:
        raise ValidationException("; ".join(problems))


def _definition(params: dict[str, Any]) -> dict[str, Any]:
    """The request as GetJob echoes it: defaults filled in, token and tags left out."""
    definition = copy.deepcopy(
        {k: v for k, v in params.items() if k not in ("clientToken", "tags")}
    )
    definition["instanceConfig"].setdefault("instanceCount", 1)
    stopping = definition.setdefault("stoppingCondition", {})
    stopping.setdefault("maxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
    if definition.get("checkpointConfig") is not None:
        definition["checkpointConfig"].setdefault("localPath", DEFAULT_CHECKPOINT_LOCAL_PATH)
    return definition


def queue_info(job: Job, ahead: int | None) -> dict[str, str]:
    """The ``queueInfo`` of a job: its 1-based place among QUEUED jobs (``ahead`` jobs
    wait before it), else position "None" as AWS reports for jobs not in the queue."""
    if job.status is JobStatus.QUEUED:
        waiting = ahead or 0
        return {
            "queue": "JOBS_QUEUE",
            "position": str(waiting + 1),
            "message": f"{waiting} job(s) ahead of this one are waiting for capacity.",
        }
    return {
        "queue": "JOBS_QUEUE",
        "position": "None",
        "message": (
            f"Job is in {job.status.value} status. AmazonBraket does not show queue "
            "position for this status."
        ),
    }


class JobService:
    """CreateJob, GetJob, CancelJob, SearchJobs and the tag operations."""

    def __init__(
        self,
        store: JobStore,
        limits: JobLimits,
        wake_scheduler: Callable[[], None] = lambda: None,
        device_exists: Callable[[str], bool] = lambda arn: True,
        quotas: Quotas | None = None,
        bucket_owner: Callable[[str], str | None] | None = None,
    ) -> None:
        """``quotas`` bounds each account's unfinished jobs and instances;
        ``bucket_owner`` (the owning account of an existing bucket, ``None`` for a bucket
        that does not exist) keeps a job to its own account's buckets."""
        self.store = store
        self.limits = limits
        self.wake_scheduler = wake_scheduler
        self.device_exists = device_exists
        self.quotas = quotas
        self.bucket_owner = bucket_owner

    # -- helpers --------------------------------------------------------------------------

    def _owned_job(self, caller: Caller, job_arn: str) -> Job:
        job = self.store.get_job(job_arn)
        if job is None or job.account_id != caller.account_id:
            raise ResourceNotFoundException(f"Job {job_arn} not found.")
        return job

    def _resource_job(self, caller: Caller, resource_arn: str) -> Job:
        if parse_job_arn(resource_arn) is None:
            raise ValidationException(
                f"resourceArn: {resource_arn!r} is not a Braket job ARN "
                "(arn:aws:braket:<region>:<account>:job/<id>)"
            )
        try:
            return self._owned_job(caller, resource_arn)
        except ResourceNotFoundException as exc:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.") from exc

    def _check_limits(self, params: dict[str, Any]) -> None:
        config = params["instanceConfig"]
        count = int(config.get("instanceCount", 1))
        if count > self.limits.max_instances_per_job:
            raise ServiceQuotaExceededException(
                f"instanceConfig.instanceCount: {count} instances exceed the per-job limit of "
                f"{self.limits.max_instances_per_job} on this service."
            )
        resources = self.limits.instance_types.get(config["instanceType"])
        if resources is None:
            raise ValidationException(
                f"instanceConfig.instanceType: {config['instanceType']!r} is not in this "
                "service's instance-type table"
            )
        reason = why_never_fits(job_needs(resources, count), self.limits.capacity)
        machine = self.limits.largest_machine
        if reason is None and machine is not None:
            too_big = why_never_fits(job_needs(resources, 1), machine)
            if too_big is not None:
                reason = f"{too_big.replace('the service has', 'the largest machine has')} for one instance"
        if reason is not None:
            raise ServiceQuotaExceededException(
                f"You have exceeded the service quota for {count} x {config['instanceType']}: "
                f"the job needs {reason}, so it could never start."
            )

    def _check_buckets(self, caller: Caller, params: dict[str, Any]) -> None:
        """AccessDeniedException for an S3 location in another account's bucket."""
        if self.bucket_owner is None:
            return
        for field, uri in job_s3_uris(params):
            bucket = uri[len("s3://") :].split("/", 1)[0]
            owner = self.bucket_owner(bucket)
            if owner is not None and owner != caller.account_id:
                raise AccessDeniedException(
                    f"{field}: the bucket {bucket!r} belongs to another account; a job may "
                    "only use its own account's buckets."
                )

    # -- operations -----------------------------------------------------------------------

    def create_job(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        problems = rules.create_job_problems(params)
        problems += rules.image_problems(params, self.limits.image_problem)
        problems += reserved_tag_problems(params.get("tags"))
        device = params["deviceConfig"]["device"]
        if not problems and device.startswith("arn:") and not self.device_exists(device):
            problems.append(
                f"deviceConfig.device: {device!r} is not a device of this service; "
                "`aws braket search-devices --filters '[]'` lists them, and local:<provider>/"
                "<name> runs the job's own embedded simulator"
            )
        if problems:
            raise ValidationException("; ".join(problems))
        key = IdempotencyKey(caller.account_id, params["clientToken"], request_hash(params))
        try:
            retried = self.store.find_idempotent_job(key)
        except IdempotencyConflict as exc:
            raise self._token_conflict(params, exc) from exc
        if retried is not None:  # a retry is answered as the first request was, quota or not
            return {"jobArn": retried.job_arn}
        self._check_limits(params)
        self._check_buckets(caller, params)
        if self.quotas is not None:
            self.quotas.check_job(
                caller.account_id, int(params["instanceConfig"].get("instanceCount", 1))
            )
        definition = _definition(params)
        arn = new_job_arn(caller.region, caller.account_id)
        now = utcnow()
        job = Job(
            job_arn=str(arn),
            job_id=arn.job_id,
            account_id=caller.account_id,
            region=caller.region,
            job_name=params["jobName"],
            status=JobStatus.QUEUED,
            device=params["deviceConfig"]["device"],
            instance_type=definition["instanceConfig"]["instanceType"],
            instance_count=definition["instanceConfig"]["instanceCount"],
            definition=definition,
            created_at=now,
            job_token=secrets.token_urlsafe(24),
        )
        event = JobEvent(
            JobEventType.QUEUED_FOR_EXECUTION,
            now,
            f"Job queued for execution on {job.instance_count} x {job.instance_type}.",
        )
        try:
            stored, created = self.store.create_job(job, event, params.get("tags") or {}, key)
        except IdempotencyConflict as exc:
            raise self._token_conflict(params, exc) from exc
        if created:
            self.wake_scheduler()
        return {"jobArn": stored.job_arn}

    @staticmethod
    def _token_conflict(params: dict[str, Any], exc: IdempotencyConflict) -> ConflictException:
        return ConflictException(
            f"clientToken: {params['clientToken']!r} was already used for job "
            f"{exc.job_arn} with a different request."
        )

    def get_job(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        with_queue = "QueueInfo" in (params.get("additionalAttributeNames") or [])
        details = self.store.get_job_details(params["jobArn"], MAX_EVENTS, with_queue)
        if details is None or details.job.account_id != caller.account_id:
            raise ResourceNotFoundException(f"Job {params['jobArn']} not found.")
        job = details.job
        response: dict[str, Any] = dict(job.definition)
        response.update(
            jobArn=job.job_arn,
            jobName=job.job_name,
            status=job.status.value,
            createdAt=job.created_at,
            startedAt=job.started_at,
            endedAt=job.ended_at,
            billableDuration=job.billable_duration_ms,
            failureReason=(job.failure_reason or None) and job.failure_reason[:MAX_FAILURE_REASON],
            events=[
                {"eventType": e.event_type.value, "timeOfEvent": e.time, "message": e.message}
                for e in details.events
            ],
            tags=details.tags,
        )
        if with_queue:
            response["queueInfo"] = queue_info(job, details.queue_position)
        return response

    def cancel_job(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        job = self._owned_job(caller, params["jobArn"])
        while True:
            if job.status in TERMINAL_STATUSES:
                raise ConflictException(
                    f"Job {job.job_arn} is already {job.status.value} and cannot be cancelled."
                )
            if job.status is JobStatus.CANCELLING:
                return {"jobArn": job.job_arn, "cancellationStatus": "CANCELLING"}
            now = utcnow()
            if job.status is JobStatus.QUEUED:
                moved = self.store.transition(
                    job.job_arn,
                    JobStatus.CANCELLED,
                    expected=[JobStatus.QUEUED],
                    event=JobEvent(JobEventType.CANCELLED, now, "Job cancelled while queued."),
                    updates={"ended_at": now},
                )
            else:
                moved = self.store.transition(
                    job.job_arn, JobStatus.CANCELLING, expected=[JobStatus.RUNNING]
                )
            if moved is not None:
                self.wake_scheduler()
                return {"jobArn": moved.job_arn, "cancellationStatus": moved.status.value}
            job = self._owned_job(caller, job.job_arn)  # it moved meanwhile: look again

    def search_jobs(
        self,
        caller: Caller,
        params: dict[str, Any],
        *,
        order: SearchOrder | None = None,
        tags: Sequence[TagMatch] = (),
    ) -> dict[str, Any]:
        """SearchJobs: newest first, the API's ``nextToken``. With ``order`` or ``tags``
        (the console's sorted, tag-filtered lists; not on the wire) the jobs come in
        ``order`` and match every tag, and tokens are bound to that search too."""
        raw_filters: list[dict[str, Any]] = params["filters"]
        filters = rules.search_filters(raw_filters)
        limit = int(params.get("maxResults") or DEFAULT_PAGE_SIZE)
        token = params.get("nextToken")
        if order is None and not tags:
            before = decode_token(token, raw_filters) if token else None
            jobs = self.store.search_jobs(caller.account_id, filters, limit + 1, before)
        else:
            order = order or SearchOrder()
            after = decode_page_token(token, raw_filters, order, tags) if token else None
            jobs = self.store.search_jobs(
                caller.account_id, filters, limit + 1, order=order.store_order(after), tags=tags
            )
        page, more = jobs[:limit], len(jobs) > limit
        tags_of = self.store.get_tags_for([job.job_arn for job in page])
        response: dict[str, Any] = {
            "jobs": [
                {
                    "jobArn": job.job_arn,
                    "jobName": job.job_name,
                    "status": job.status.value,
                    "device": job.device,
                    "createdAt": job.created_at,
                    "startedAt": job.started_at,
                    "endedAt": job.ended_at,
                    "tags": tags_of[job.job_arn],
                }
                for job in page
            ]
        }
        if more and order is None:
            response["nextToken"] = encode_token(page[-1].seq, raw_filters)
        elif more and order is not None:
            response["nextToken"] = encode_page_token(page[-1], raw_filters, order, tags)
        return response

    def tag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        job = self._resource_job(caller, params["resourceArn"])
        check_tags(params["tags"])
        self.store.tag(job.job_arn, params["tags"])
        return {}

    def untag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        job = self._resource_job(caller, params["resourceArn"])
        self.store.untag(job.job_arn, params["tagKeys"])
        return {}

    def list_tags_for_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        job = self._resource_job(caller, params["resourceArn"])
        return {"tags": self.store.get_tags(job.job_arn)}


def job_s3_uris(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Every S3 location of a CreateJob request, with the field that names it."""
    uris: list[tuple[str, str]] = []
    script = params["algorithmSpecification"].get("scriptModeConfig")
    if script is not None:
        uris.append(("algorithmSpecification.scriptModeConfig.s3Uri", script["s3Uri"]))
    uris.append(("outputDataConfig.s3Path", params["outputDataConfig"]["s3Path"]))
    if params.get("checkpointConfig"):
        uris.append(("checkpointConfig.s3Uri", params["checkpointConfig"]["s3Uri"]))
    for index, channel in enumerate(params.get("inputDataConfig") or []):
        uris.append(
            (
                f"inputDataConfig[{index}].dataSource.s3DataSource.s3Uri",
                channel["dataSource"]["s3DataSource"]["s3Uri"],
            )
        )
    return [(field, uri) for field, uri in uris if uri.startswith("s3://")]
