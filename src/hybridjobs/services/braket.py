"""The Braket surface (rest-json): routes to the job operations of :mod:`hybridjobs.jobs`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore import xform_name

from hybridjobs.errors import (
    InternalServiceException,
    NotImplementedByServiceError,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from hybridjobs.jobs.service import Caller, JobService
from hybridjobs.wire import botomodel, restjson
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.routing import RestRouter
from hybridjobs.wire.validate import validate

log = logging.getLogger(__name__)

Operation = Callable[[Caller, dict[str, Any]], dict[str, Any]]

IMPLEMENTED = (
    "CreateJob",
    "GetJob",
    "CancelJob",
    "SearchJobs",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)


class BraketService:
    """Parses, validates and dispatches Braket requests to a :class:`JobService`."""

    signing_name = "braket"

    def __init__(self, jobs: JobService) -> None:
        self.model = botomodel.service_model("braket")
        self.router = RestRouter(self.model)
        self.operations: dict[str, Operation] = {
            name: getattr(jobs, xform_name(name)) for name in IMPLEMENTED
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
