"""Access to botocore's service models: the only module that loads them.

botocore's JSON models are the single source of truth for routes, member names,
constraints, status codes and error shapes (design principle 1). botocore is pinned in
pyproject.toml; ``tests/wire/test_model_pin.py`` fails when the shapes behind our
operations change.
"""

from __future__ import annotations

import functools

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

# Instance types that older botocore models listed and the newest one dropped. botocore does
# not check enums on the client, so older clients may still send them: accept the union.
LEGACY_INSTANCE_TYPES: tuple[str, ...] = (
    "ml.p2.xlarge",
    "ml.p2.8xlarge",
    "ml.p2.16xlarge",
    "ml.p3.2xlarge",
    "ml.p3.8xlarge",
    "ml.p3.16xlarge",
    "ml.p3dn.24xlarge",
)

# GPU instance types of SageMaker training that the Braket model does not list (yet): users
# moving from SageMaker-style code ask for them, and the service runs them where it has
# the GPUs (its instance-type table knows their resources).
_G5_SIZES = [
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "48xlarge",
]
UNLISTED_GPU_INSTANCE_TYPES: tuple[str, ...] = tuple(f"ml.g5.{size}" for size in _G5_SIZES)

# Extra enum values accepted per (service, shape name), on top of the model's own.
EXTRA_ENUM_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("braket", "InstanceType"): LEGACY_INSTANCE_TYPES + UNLISTED_GPU_INSTANCE_TYPES,
}


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def service_model(service_name: str) -> ServiceModel:
    """The botocore model of ``service_name`` (for example ``"braket"``, ``"s3"``)."""
    return _session().get_service_model(service_name)


def operation_model(service_name: str, operation_name: str) -> OperationModel:
    """The model of one operation."""
    return service_model(service_name).operation_model(operation_name)


def enum_values(service_name: str, shape: Shape) -> tuple[str, ...]:
    """The values a string shape accepts: the model's enum plus our accepted extras."""
    extra = EXTRA_ENUM_VALUES.get((service_name, shape.name), ())
    return tuple(shape.enum) + extra


def error_status(service_name: str, shape_name: str) -> int | None:
    """The HTTP status the model gives error shape ``shape_name``, if any."""
    model = service_model(service_name)
    if shape_name not in model.shape_names:
        return None
    error = model.shape_for(shape_name).metadata.get("error", {})
    status = error.get("httpStatusCode")
    return int(status) if status is not None else None
