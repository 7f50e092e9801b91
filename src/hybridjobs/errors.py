"""Domain errors, each named exactly after an AWS error shape.

Domain code raises these; the wire layer is the one place that turns them into HTTP
responses (design principle 6). ``status`` is the HTTP status the service model gives the
shape; a test checks it against botocore's model.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """An error that crosses the wire as an AWS error shape.

    ``code`` is the shape name (sent as ``x-amzn-ErrorType`` and ``__type``), ``status``
    the HTTP status, ``message`` the human-readable text; ``extra`` holds modeled members
    beyond ``message`` (for example ValidationException's ``reason``).
    """

    code: ClassVar[str] = "InternalServiceException"
    status: ClassVar[int] = 500
    sender_fault: ClassVar[bool] = False

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationException(ServiceError):
    code = "ValidationException"
    status = 400
    sender_fault = True


class ServiceQuotaExceededException(ServiceError):
    code = "ServiceQuotaExceededException"
    status = 402
    sender_fault = True


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"
    status = 403
    sender_fault = True


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"
    status = 404
    sender_fault = True


class ConflictException(ServiceError):
    code = "ConflictException"
    status = 409
    sender_fault = True


class DeviceRetiredException(ServiceError):
    code = "DeviceRetiredException"
    status = 410
    sender_fault = True


class DeviceOfflineException(ServiceError):
    code = "DeviceOfflineException"
    status = 424
    sender_fault = True


class ThrottlingException(ServiceError):
    code = "ThrottlingException"
    status = 429
    sender_fault = True


class InternalServiceException(ServiceError):
    code = "InternalServiceException"
    status = 500


class UnknownOperationException(ServiceError):
    """The request matches no operation of any service we serve (not a modeled shape)."""

    code = "UnknownOperationException"
    status = 404
    sender_fault = True


class NotImplementedByServiceError(ServiceError):
    """A modeled operation that hybridjobs does not implement."""

    code = "NotImplementedException"
    status = 501


class InvalidSignatureException(ServiceError):
    """The request's SigV4 signature or access key is not accepted."""

    code = "InvalidSignatureException"
    status = 403
    sender_fault = True
