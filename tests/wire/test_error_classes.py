"""``hybridjobs.errors`` agrees with the error shapes of botocore's Braket model."""

from __future__ import annotations

import pytest

from hybridjobs import errors
from hybridjobs.services.braket import IMPLEMENTED
from hybridjobs.wire import botomodel

ERROR_CLASSES = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type)
    and issubclass(cls, errors.ServiceError)
    and cls is not errors.ServiceError
]
# Codes we send that are not Braket shapes: each must be a deliberate choice.
UNMODELED_CODES = {
    "UnknownOperationException",
    "NotImplementedException",
    "InvalidSignatureException",
}
MODEL = botomodel.service_model("braket")
AWS_NAMED = [cls for cls in ERROR_CLASSES if cls.code in MODEL.shape_names]


def test_every_error_class_is_a_model_shape_or_a_known_extra() -> None:
    unknown = {cls.code for cls in ERROR_CLASSES} - set(MODEL.shape_names) - UNMODELED_CODES
    assert not unknown, f"error classes with codes that are not Braket error shapes: {unknown}"


def test_class_names_are_the_shape_names() -> None:
    for cls in AWS_NAMED:
        assert cls.__name__ == cls.code


@pytest.mark.parametrize("error_class", AWS_NAMED, ids=lambda c: c.code)
def test_status_is_the_models_http_status(error_class: type[errors.ServiceError]) -> None:
    assert error_class.status == botomodel.error_status("braket", error_class.code)


@pytest.mark.parametrize("error_class", AWS_NAMED, ids=lambda c: c.code)
def test_sender_fault_is_the_models(error_class: type[errors.ServiceError]) -> None:
    metadata = MODEL.shape_for(error_class.code).metadata["error"]
    assert error_class.sender_fault == bool(metadata.get("senderFault", False))


def test_every_error_our_operations_can_return_has_a_class() -> None:
    modeled = {
        shape.name for name in IMPLEMENTED for shape in MODEL.operation_model(name).error_shapes
    }
    assert modeled <= {cls.code for cls in AWS_NAMED}


def test_unmodeled_codes_are_not_in_the_model() -> None:
    assert not UNMODELED_CODES & set(MODEL.shape_names)


def test_error_status_of_a_non_shape_is_none() -> None:
    assert botomodel.error_status("braket", "NoSuchShape") is None
