"""The one service envelope: resolve -> parse -> validate -> call -> serialize.

Every protocol (rest-json, json, query, rest-xml) answers a request the same way; only
the steps' wire details differ, and a :class:`WireCodec` supplies them. :func:`serve`
runs the steps in order and turns any error into the protocol's own error shape, so a
fix to the envelope (an error that escaped, the operation name the access log sees, the
internal-error message) is made once for every protocol:

1. ``resolve`` finds the operation (and the URI labels) the request names, or raises
   the protocol's unknown-operation error;
2. an operation without a handler raises ``not_implemented``;
3. ``parse`` reads the input members off the wire (the protocol's error for bad bytes);
4. :func:`hybridjobs.wire.validate.validate` checks them against the model, and any
   problem raises ``invalid`` (the protocol's validation error, naming each field);
5. the handler runs; what it returns is ``serialize``'d.

An error of the codec's ``error_type`` becomes ``error(...)``; anything else is logged
with its traceback and answered as ``internal(...)`` carrying the request id only.

The codecs of the AWS protocols whose errors are :class:`hybridjobs.errors.ServiceError`
(rest-json, json, query) derive from :class:`ServiceCodec`, which gives them their one
``error_type`` and their one ``internal`` error; S3 (rest-xml) keeps its own error type.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from botocore.model import OperationModel, Shape

from hybridjobs.errors import InternalServiceException, ServiceError
from hybridjobs.wire import botomodel
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.validate import validate

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Exception)

Handler = Callable[[WireRequest, dict[str, Any]], Any]
"""Gets the request (account, region, id) and the validated input (member names); returns
what the codec's ``serialize`` takes (an output dict for most protocols)."""


@dataclass(frozen=True)
class Resolved:
    """The operation a request names, with the URI labels its route captured."""

    operation: OperationModel
    labels: dict[str, str] = field(default_factory=dict)


class WireCodec(ABC, Generic[E]):
    """The wire details of one protocol for one service; :func:`serve` runs them."""

    service_name: str
    error_type: type[E]

    @abstractmethod
    def resolve(self, request: WireRequest) -> Resolved:
        """The operation ``request`` names; raises ``error_type`` when none."""

    @abstractmethod
    def parse(
        self, operation: OperationModel, request: WireRequest, labels: dict[str, str]
    ) -> dict[str, Any]:
        """The input parameters on the wire (not yet validated); raises ``error_type``."""

    @abstractmethod
    def not_implemented(self, operation: OperationModel) -> E:
        """The error for a modeled operation this service has no handler for."""

    @abstractmethod
    def invalid(self, operation: OperationModel, problems: list[str]) -> E:
        """The error for input that breaks the model's constraints (``problems`` name the
        fields)."""

    @abstractmethod
    def internal(self, request: WireRequest) -> E:
        """The error sent for an unexpected failure (it names the request id only)."""

    @abstractmethod
    def serialize(
        self, operation: OperationModel, output: Any, request: WireRequest
    ) -> WireResponse:
        """The success response for what the handler returned."""

    @abstractmethod
    def error(self, error: E, request: WireRequest) -> WireResponse:
        """The protocol's error response for ``error``."""

    def enum_values(self, shape: Shape) -> tuple[str, ...]:
        """The values a string shape accepts: the model's enum plus the extras
        :func:`hybridjobs.wire.botomodel.enum_values` adds."""
        return botomodel.enum_values(self.service_name, shape)


class ServiceCodec(WireCodec[ServiceError]):
    """A codec whose errors are :class:`hybridjobs.errors.ServiceError`: the rest-json,
    json and query protocols. An unexpected failure answers ``InternalServiceException``
    (HTTP 500) whose message names the request id and nothing else (no traceback, no
    server path)."""

    error_type = ServiceError

    def internal(self, request: WireRequest) -> ServiceError:
        return InternalServiceException(
            f"The service hit an internal error; request id {request.request_id}."
        )


def serve(
    codec: WireCodec[E], handler_for: Callable[[str], Handler | None], request: WireRequest
) -> WireResponse:
    """Answer ``request`` through ``codec`` (see the module docstring), calling
    ``handler_for(operation name)`` (``None``: not implemented); never raises."""
    try:
        resolved = codec.resolve(request)
        operation = resolved.operation
        request.operation = operation.name
        handler = handler_for(operation.name)
        if handler is None:
            raise codec.not_implemented(operation)
        params = codec.parse(operation, request, resolved.labels)
        problems = validate(operation.input_shape, params, codec.enum_values)
        if problems:
            raise codec.invalid(operation, problems)
        output = handler(request, params)
        return codec.serialize(operation, output, request)
    except codec.error_type as error:
        return codec.error(error, request)
    except Exception:
        log.exception("%s request %s failed", codec.service_name, request.request_id)
        return codec.error(codec.internal(request), request)
