"""The quantum-task operations: one method per operation, wire names in and out.

Inputs are model-validated parameter dicts; outputs are dicts the wire layer serializes.
Every task is scoped to the caller's account. A task is validated completely (device,
action, shots, program against the device's capabilities) before it is stored; then the
:class:`TaskRunner` (the worker pool, when this process has one) is told at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hybridjobs.accounts.quotas import Quotas
from hybridjobs.arns import new_task_arn, parse_task_arn
from hybridjobs.devices.catalog import DeviceCatalog
from hybridjobs.devices.model import Device, DeviceStatus
from hybridjobs.errors import (
    AccessDeniedException,
    ConflictException,
    DeviceOfflineException,
    DeviceRetiredException,
    ResourceNotFoundException,
    ValidationException,
)
from hybridjobs.jobs import rules
from hybridjobs.jobs.model import TERMINAL_STATUSES, utcnow
from hybridjobs.jobs.ports import IdempotencyConflict, IdempotencyKey, JobStore
from hybridjobs.jobs.service import Caller, check_tags, reserved_tag_problems
from hybridjobs.paging import decode_token, encode_token
from hybridjobs.tasks.engineport import EngineRequest, TaskValidationError
from hybridjobs.tasks.model import QuantumTask, QueuePriority, TaskStatus
from hybridjobs.tasks.ports import TaskStore

DEFAULT_PAGE_SIZE = 20
MAX_QUEUE_POSITION = 2000
"""AWS reports task queue positions beyond this as ``'>2000'``."""

# SearchQuantumTasks filter name -> (store field, operators allowed).
TASK_SEARCH_FILTERS: dict[str, tuple[str, frozenset[str]]] = {
    "quantumTaskArn": ("task_arn", frozenset({"EQUAL"})),
    "deviceArn": ("device_arn", frozenset({"EQUAL"})),
    "jobArn": ("job_arn", frozenset({"EQUAL"})),
    "status": ("status", frozenset({"EQUAL"})),
    "createdAt": ("created_at", frozenset({"EQUAL", "GT", "GTE", "LT", "LTE", "BETWEEN"})),
}


class TaskRunner(Protocol):
    """What the API needs of the worker pool that runs tasks."""

    def submitted(self, task: QuantumTask) -> None:
        """A task was stored QUEUED: look at the queue now."""
        ...

    def cancel(self, task_arn: str) -> None:
        """The task was moved to CANCELLING: stop it if this pool runs it."""
        ...

    def wait_finished(self, task_arn: str, timeout: float) -> None:
        """Return once the task is terminal or ``timeout`` seconds have passed (at once when
        this pool does not know the task)."""
        ...


class NoTaskRunner:
    """For an API process without workers: a separate scheduler process runs tasks."""

    def submitted(self, task: QuantumTask) -> None:
        """Nothing to wake here; the workers poll the database."""

    def cancel(self, task_arn: str) -> None:
        """The workers see CANCELLING on their next look."""

    def wait_finished(self, task_arn: str, timeout: float) -> None:
        """Nothing to wait on in this process."""


class TaskStoreWithJobs(TaskStore, JobStore, Protocol):
    """The store the task service needs: tasks, plus jobs to resolve job tokens."""


@dataclass(frozen=True)
class TaskLimits:
    """How long GetQuantumTask may hold a call for a task that is about to finish."""

    settle_seconds: float = 0.2


def request_hash(params: dict[str, Any]) -> str:
    """A stable hash of a CreateQuantumTask request, ignoring its client token."""
    material = {k: v for k, v in params.items() if k != "clientToken"}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _action_name(action: str) -> str:
    """The ``braketSchemaHeader.name`` of an action JSON string."""
    try:
        document = json.loads(action)
        name = document["braketSchemaHeader"]["name"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationException(
            "action: not a Braket action document (a JSON object with a braketSchemaHeader, "
            "such as braket.ir.openqasm.program)"
        ) from exc
    if not isinstance(name, str):
        raise ValidationException("action: braketSchemaHeader.name must be a string")
    return name


def task_queue_info(task: QuantumTask, ahead: int | None) -> dict[str, str]:
    """The ``queueInfo`` of a task: its 1-based place in its device's queue while QUEUED,
    else position "None"."""
    info = {"queue": "QUANTUM_TASKS_QUEUE", "queuePriority": task.priority.value}
    if task.status is TaskStatus.QUEUED:
        place = (ahead or 0) + 1
        info["position"] = str(place) if place <= MAX_QUEUE_POSITION else f">{MAX_QUEUE_POSITION}"
        info["message"] = f"{ahead or 0} task(s) run before this one on {task.device_arn}."
    else:
        info["position"] = "None"
        info["message"] = (
            f"Task is in {task.status.value} status. AmazonBraket does not show queue position "
            "for this status."
        )
    return info


def task_summary(task: QuantumTask) -> dict[str, Any]:
    """The ``QuantumTaskSummary`` of a task."""
    return {
        "quantumTaskArn": task.task_arn,
        "status": task.status.value,
        "deviceArn": task.device_arn,
        "shots": task.shots,
        "outputS3Bucket": task.output_s3_bucket,
        "outputS3Directory": task.output_s3_directory,
        "createdAt": task.created_at,
        "endedAt": task.ended_at,
        "tags": task.tags,
    }


class TaskService:
    """CreateQuantumTask, GetQuantumTask, CancelQuantumTask, SearchQuantumTasks and the tag
    operations on task ARNs."""

    def __init__(
        self,
        store: TaskStoreWithJobs,
        catalog: DeviceCatalog,
        runner: TaskRunner,
        bucket_exists: Callable[[str], bool],
        validate: Callable[[EngineRequest], None],
        limits: TaskLimits = TaskLimits(),
        quotas: Quotas | None = None,
        bucket_owner: Callable[[str], str | None] | None = None,
    ) -> None:
        """``quotas`` bounds each account's queued tasks; ``bucket_owner`` (the owning
        account of an existing bucket, else ``None``) keeps results to the caller's
        buckets."""
        self.store = store
        self.catalog = catalog
        self.runner = runner
        self.bucket_exists = bucket_exists
        self.validate = validate
        self.limits = limits
        self.quotas = quotas
        self.bucket_owner = bucket_owner

    # -- helpers --------------------------------------------------------------------------

    def _owned_task(self, caller: Caller, task_arn: str) -> QuantumTask:
        task = self.store.get_task(task_arn)
        if task is None or task.account_id != caller.account_id:
            raise ResourceNotFoundException(f"Quantum task {task_arn} not found.")
        return task

    def _device(self, device_arn: str) -> Device:
        device = self.catalog.get(device_arn)
        if device is None:
            raise ValidationException(
                f"deviceArn: {device_arn!r} is not a device of this service; "
                "`aws braket search-devices --filters '[]'` lists them"
            )
        if device.status is DeviceStatus.RETIRED:
            raise DeviceRetiredException(f"Device {device_arn} is retired.")
        if device.status is not DeviceStatus.ONLINE:
            raise DeviceOfflineException(
                f"Device {device_arn} is {device.status.value} and does not accept tasks."
            )
        return device

    def _job_of_token(self, caller: Caller, token: str | None) -> str | None:
        if token is None:
            return None
        job = self.store.job_for_token(token)
        if job is None or job.account_id != caller.account_id:
            raise ValidationException("jobToken: not the token of a hybrid job of this account")
        if job.status in TERMINAL_STATUSES:
            raise ValidationException(
                f"jobToken: the hybrid job {job.job_arn} is {job.status.value} and can no "
                "longer create quantum tasks"
            )
        return job.job_arn

    def _check_request(self, device: Device, params: dict[str, Any]) -> None:
        problems: list[str] = []
        action_name = _action_name(params["action"])
        if action_name not in device.action_types:
            problems.append(
                f"action: {action_name} is not an action {device.name} accepts "
                f"(it accepts {', '.join(sorted(device.action_types))})"
            )
        low, high = device.shots_range
        if not low <= params["shots"] <= high:
            problems.append(
                f"shots: {params['shots']} is outside {device.name}'s range [{low}, {high}]"
            )
        if params.get("deviceParameters") is not None:
            try:
                parsed = json.loads(params["deviceParameters"])
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                problems.append("deviceParameters: not a JSON object")
        problems += reserved_tag_problems(params.get("tags"))
        if not self.bucket_exists(params["outputS3Bucket"]):
            problems.append(
                f"outputS3Bucket: the bucket {params['outputS3Bucket']!r} does not exist "
                "(create it first, e.g. `aws s3 mb s3://BUCKET`)"
            )
        if problems:
            raise ValidationException("; ".join(problems))

    # -- operations -----------------------------------------------------------------------

    def create_quantum_task(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        device = self._device(params["deviceArn"])
        self._check_request(device, params)
        owner = self.bucket_owner(params["outputS3Bucket"]) if self.bucket_owner else None
        if owner is not None and owner != caller.account_id:
            raise AccessDeniedException(
                f"outputS3Bucket: the bucket {params['outputS3Bucket']!r} belongs to another "
                "account; results go only to the caller's own buckets."
            )
        job_arn = self._job_of_token(caller, params.get("jobToken"))
        if self.quotas is not None:
            self.quotas.check_task(caller.account_id)
        arn = new_task_arn(caller.region, caller.account_id)
        request = EngineRequest(
            task_arn=str(arn),
            device_arn=device.arn,
            engine=device.engine,
            action=params["action"],
            shots=int(params["shots"]),
            device_parameters=params.get("deviceParameters"),
            device_capabilities=device.capabilities_json,
        )
        try:
            self.validate(request)
        except TaskValidationError as exc:
            raise ValidationException(str(exc)) from exc
        prefix = params["outputS3KeyPrefix"].rstrip("/")
        extras: dict[str, Any] = {
            key: params[key]
            for key in ("associations", "experimentalCapabilities")
            if key in params
        }
        task = QuantumTask(
            task_arn=str(arn),
            task_id=arn.task_id,
            account_id=caller.account_id,
            region=caller.region,
            status=TaskStatus.QUEUED,
            device_arn=device.arn,
            engine=device.engine,
            shots=int(params["shots"]),
            action=params["action"],
            device_parameters=params.get("deviceParameters"),
            output_s3_bucket=params["outputS3Bucket"],
            output_s3_directory=f"{prefix}/{arn.task_id}",
            created_at=utcnow(),
            priority=QueuePriority.PRIORITY if job_arn else QueuePriority.NORMAL,
            job_arn=job_arn,
            tags=dict(params.get("tags") or {}),
            extras=extras,
        )
        key = IdempotencyKey(caller.account_id, params["clientToken"], request_hash(params))
        try:
            stored, created = self.store.create_task(task, key)
        except IdempotencyConflict as exc:
            raise ConflictException(
                f"clientToken: {params['clientToken']!r} was already used for quantum task "
                f"{exc.job_arn} with a different request."
            ) from exc
        if created:
            self.runner.submitted(stored)
        return {"quantumTaskArn": stored.task_arn}

    def get_quantum_task(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        task = self._owned_task(caller, params["quantumTaskArn"])
        if not task.is_terminal and self.limits.settle_seconds > 0:
            # A task that is about to finish answers finished: callers that poll (the SDK
            # sleeps a second between polls) see their result on the first look.
            self.runner.wait_finished(task.task_arn, self.limits.settle_seconds)
            task = self._owned_task(caller, task.task_arn)
        response: dict[str, Any] = {
            **task_summary(task),
            "failureReason": task.failure_reason,
            "deviceParameters": task.device_parameters or "{}",
            "jobArn": task.job_arn,
            "numSuccessfulShots": task.num_successful_shots,
            "actionMetadata": task.action_metadata,
            **task.extras,
        }
        if "QueueInfo" in (params.get("additionalAttributeNames") or []):
            ahead = (
                self.store.task_queue_position(task) if task.status is TaskStatus.QUEUED else None
            )
            response["queueInfo"] = task_queue_info(task, ahead)
        return response

    def cancel_quantum_task(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        task = self._owned_task(caller, params["quantumTaskArn"])
        while True:
            if task.status is TaskStatus.CANCELLED or task.status is TaskStatus.CANCELLING:
                return {"quantumTaskArn": task.task_arn, "cancellationStatus": task.status.value}
            if task.is_terminal:
                raise ConflictException(
                    f"Quantum task {task.task_arn} is already {task.status.value} and cannot "
                    "be cancelled."
                )
            moved = self.cancel_task(task)
            if moved is not None:
                return {"quantumTaskArn": moved.task_arn, "cancellationStatus": moved.status.value}
            task = self._owned_task(caller, task.task_arn)  # it moved meanwhile

    def cancel_task(self, task: QuantumTask) -> QuantumTask | None:
        """Cancel a QUEUED task at once, or ask the worker running a RUNNING one to stop;
        ``None`` when the task was no longer in the status read."""
        if task.status is TaskStatus.QUEUED:
            return self.store.transition_task(
                task.task_arn,
                TaskStatus.CANCELLED,
                expected=[TaskStatus.QUEUED],
                updates={"ended_at": utcnow()},
            )
        moved = self.store.transition_task(
            task.task_arn, TaskStatus.CANCELLING, expected=[TaskStatus.RUNNING]
        )
        if moved is not None:
            self.runner.cancel(task.task_arn)
        return moved

    def cancel_tasks_of_job(self, job_arn: str) -> int:
        """Cancel every unfinished task of a job that ended FAILED or CANCELLED; returns
        how many were cancelled."""
        cancelled = 0
        for task in self.store.unfinished_tasks_of_job(job_arn):
            if task.status is not TaskStatus.CANCELLING and self.cancel_task(task) is not None:
                cancelled += 1
        return cancelled

    def search_quantum_tasks(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        raw_filters: list[dict[str, Any]] = params["filters"]
        filters = rules.search_filters(raw_filters, TASK_SEARCH_FILTERS, exclusive=None)
        limit = int(params.get("maxResults") or DEFAULT_PAGE_SIZE)
        before = decode_token(params["nextToken"], raw_filters) if params.get("nextToken") else None
        tasks = self.store.search_tasks(caller.account_id, filters, limit + 1, before)
        page, more = tasks[:limit], len(tasks) > limit
        response: dict[str, Any] = {"quantumTasks": [task_summary(task) for task in page]}
        if more:
            response["nextToken"] = encode_token(page[-1].seq, raw_filters)
        return response

    # -- tags on task ARNs ----------------------------------------------------------------

    def _resource_task(self, caller: Caller, resource_arn: str) -> QuantumTask:
        if parse_task_arn(resource_arn) is None:
            raise ValidationException(f"resourceArn: {resource_arn!r} is not a quantum-task ARN")
        try:
            return self._owned_task(caller, resource_arn)
        except ResourceNotFoundException as exc:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.") from exc

    def tag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        task = self._resource_task(caller, params["resourceArn"])
        check_tags(params["tags"])
        self.store.set_task_tags(task.task_arn, dict(params["tags"]))
        return {}

    def untag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        task = self._resource_task(caller, params["resourceArn"])
        self.store.set_task_tags(task.task_arn, {}, params["tagKeys"])
        return {}

    def list_tags_for_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"tags": self._resource_task(caller, params["resourceArn"]).tags}
