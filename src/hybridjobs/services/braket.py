"""The Braket surface (rest-json): routes to the job, quantum-task and device operations.

Tag operations go to the jobs or the tasks by the kind of ARN they name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore import xform_name

from hybridjobs.arns import parse_task_arn
from hybridjobs.devices.service import DeviceService
from hybridjobs.jobs.service import Caller, JobService
from hybridjobs.tasks.service import TaskService
from hybridjobs.wire import restjson
from hybridjobs.wire.envelope import Handler, serve
from hybridjobs.wire.messages import WireRequest, WireResponse

Operation = Callable[[Caller, dict[str, Any]], dict[str, Any]]

JOB_OPERATIONS = ("CreateJob", "GetJob", "CancelJob", "SearchJobs")
TASK_OPERATIONS = (
    "CreateQuantumTask",
    "GetQuantumTask",
    "CancelQuantumTask",
    "SearchQuantumTasks",
)
DEVICE_OPERATIONS = ("GetDevice", "SearchDevices")
TAG_OPERATIONS = ("TagResource", "UntagResource", "ListTagsForResource")
SPENDING_LIMIT_OPERATIONS = (
    "CreateSpendingLimit",
    "UpdateSpendingLimit",
    "DeleteSpendingLimit",
    "SearchSpendingLimits",
)
"""Routed here, served by usage accounting (``services/usage.py`` adds them at wiring)."""
IMPLEMENTED = (
    JOB_OPERATIONS
    + TASK_OPERATIONS
    + DEVICE_OPERATIONS
    + TAG_OPERATIONS
    + SPENDING_LIMIT_OPERATIONS
)


class BraketService:
    """Parses, validates and dispatches Braket requests to the domain services."""

    signing_name = "braket"

    def __init__(self, jobs: JobService, tasks: TaskService, devices: DeviceService) -> None:
        self.codec = restjson.RestJsonCodec("braket")
        self.model = self.codec.model
        self.operations: dict[str, Operation] = {
            **{name: getattr(jobs, xform_name(name)) for name in JOB_OPERATIONS},
            **{name: getattr(tasks, xform_name(name)) for name in TASK_OPERATIONS},
            **{name: getattr(devices, xform_name(name)) for name in DEVICE_OPERATIONS},
            **{name: _by_resource(jobs, tasks, xform_name(name)) for name in TAG_OPERATIONS},
        }

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer ``request`` through the shared envelope; never raises."""
        return serve(self.codec, self._handler, request)

    def _handler(self, name: str) -> Handler | None:
        """The operation ``name`` as the envelope calls it (looked up now: usage
        accounting wraps some of :attr:`operations` after construction)."""
        implementation = self.operations.get(name)
        if implementation is None:
            return None

        def handler(request: WireRequest, params: dict[str, Any]) -> dict[str, Any]:
            return implementation(Caller(request.account_id, request.region), params)

        return handler


def _by_resource(jobs: JobService, tasks: TaskService, method: str) -> Operation:
    """A tag operation that goes to the tasks for a quantum-task ARN, else to the jobs."""

    def operation(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        owner = tasks if parse_task_arn(params["resourceArn"]) is not None else jobs
        result: dict[str, Any] = getattr(owner, method)(caller, params)
        return result

    return operation
