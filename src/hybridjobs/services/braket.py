"""The Braket surface (rest-json): routes to the job, quantum-task and device operations.

Tag operations go to the jobs or the tasks by the kind of ARN they name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore import xform_name

from hybridjobs.arns import parse_task_arn
from hybridjobs.devices.service import DeviceService
from hybridjobs.errors import (
    InternalServiceException,
    NotImplementedByServiceError,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from hybridjobs.jobs.service import Caller, JobService
from hybridjobs.tasks.service import TaskService
from hybridjobs.wire import botomodel, restjson
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.routing import RestRouter
from hybridjobs.wire.validate import validate

log = logging.getLogger(__name__)

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
IMPLEMENTED = JOB_OPERATIONS + TASK_OPERATIONS + DEVICE_OPERATIONS + TAG_OPERATIONS


class BraketService:
    """Parses, validates and dispatches Braket requests to the domain services."""

    signing_name = "braket"

    def __init__(self, jobs: JobService, tasks: TaskService, devices: DeviceService) -> None:
        self.model = botomodel.service_model("braket")
        self.router = RestRouter(self.model)
        self.operations: dict[str, Operation] = {
            **{name: getattr(jobs, xform_name(name)) for name in JOB_OPERATIONS},
            **{name: getattr(tasks, xform_name(name)) for name in TASK_OPERATIONS},
            **{name: getattr(devices, xform_name(name)) for name in DEVICE_OPERATIONS},
            **{name: _by_resource(jobs, tasks, xform_name(name)) for name in TAG_OPERATIONS},
        }

    def _enum_values(self, shape: Any) -> tuple[str, ...]:
        return botomodel.enum_values("braket", shape)

    def handle(self, request: WireRequest) -> WireResponse:
        try:
            return self._handle(request)
        except ServiceError as error:
            return restjson.serialize_error(error, request.request_id)
        except Exception:
            log.exception("Braket request %s failed", request.request_id)
            internal = InternalServiceException(
                f"The service hit an internal error; request id {request.request_id}."
            )
            return restjson.serialize_error(internal, request.request_id)

    def _handle(self, request: WireRequest) -> WireResponse:
        match = self.router.match(request.method, request.raw_path, request.query)
        if match is None:
            raise UnknownOperationException(
                f"No Braket operation matches {request.method} {request.raw_path}."
            )
        operation = match.operation
        implementation = self.operations.get(operation.name)
        if implementation is None:
            raise NotImplementedByServiceError(
                f"hybridjobs does not implement the Braket operation {operation.name}."
            )
        params = restjson.parse_request(operation, request, match.labels)
        problems = validate(operation.input_shape, params, self._enum_values)
        if problems:
            raise ValidationException(
                f"{len(problems)} validation error(s) in {operation.name}: " + "; ".join(problems)
            )
        output = implementation(Caller(request.account_id, request.region), params)
        return restjson.serialize_response(operation, output, request.request_id)


def _by_resource(jobs: JobService, tasks: TaskService, method: str) -> Operation:
    """A tag operation that goes to the tasks for a quantum-task ARN, else to the jobs."""

    def operation(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        owner = tasks if parse_task_arn(params["resourceArn"]) is not None else jobs
        result: dict[str, Any] = getattr(owner, method)(caller, params)
        return result

    return operation
