"""The ServiceError protocols share one internal-error answer (``ServiceCodec.internal``).

A protocol bug in the internal-error shape or message is fixed once: the rest-json, json
and query codecs inherit :meth:`hybridjobs.wire.envelope.ServiceCodec.internal` rather than
each carrying a copy. The answer itself (status, code, no traceback) is checked per
protocol in ``test_envelope.py``.
"""

from __future__ import annotations

import pytest

from hybridjobs.errors import InternalServiceException
from hybridjobs.wire.envelope import ServiceCodec
from hybridjobs.wire.jsonrpc import JsonProtocolService
from hybridjobs.wire.messages import WireRequest
from hybridjobs.wire.query import QueryProtocolService
from hybridjobs.wire.restjson import RestJsonCodec

CODECS: list[type[ServiceCodec]] = [RestJsonCodec, JsonProtocolService, QueryProtocolService]


@pytest.mark.parametrize("codec", CODECS, ids=lambda codec: codec.__name__)
def test_each_service_error_codec_uses_the_shared_internal_error(
    codec: type[ServiceCodec],
) -> None:
    assert codec.internal is ServiceCodec.internal
    assert codec.error_type is ServiceCodec.error_type


def test_the_shared_internal_error_names_the_request_id_only() -> None:
    request = WireRequest("GET", "/", {}, {}, b"", "us-west-2")

    error = RestJsonCodec("braket").internal(request)

    assert isinstance(error, InternalServiceException)
    assert error.status == 500
    assert str(error) == f"The service hit an internal error; request id {request.request_id}."
