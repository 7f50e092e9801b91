"""Every implemented operation of every surface, with inputs generated from its botocore
input shape, sent by boto3 (parameter validation off) to a live server: never a 5xx, and
a refused request stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.history import get_global_history_recorder
from hypothesis import given
from hypothesis import strategies as st
from support.server import LiveServer, aws_client

from fuzz.conftest import STATUSES, stored
from fuzz.shapes import strategy_for
from hybridjobs.services.braket import IMPLEMENTED as BRAKET
from hybridjobs.services.s3 import HANDLERS as S3_HANDLERS
from hybridjobs.wire import botomodel

UNCHECKED = Config(
    parameter_validation=False,
    retries={"total_max_attempts": 1, "mode": "standard"},
    s3={"addressing_style": "path"},
)
IMPLEMENTED: dict[str, tuple[str, ...]] = {
    "braket": tuple(BRAKET),
    "s3": tuple(sorted(S3_HANDLERS)),
    "logs": (
        "DescribeLogGroups",
        "DescribeLogStreams",
        "GetLogEvents",
        "FilterLogEvents",
        "StartQuery",
        "GetQueryResults",
        "StopQuery",
        "PutLogEvents",
        "CreateLogStream",
        "CreateLogGroup",
    ),
    "sts": ("GetCallerIdentity",),
    "iam": ("ListRoles", "GetRole"),
    "ecr": ("BatchGetImage", "GetAuthorizationToken"),
}
CASES = [(service, op) for service, ops in IMPLEMENTED.items() for op in ops]


class Exchange:
    """What the client sent and the status that came back on the wire, from botocore's
    events and its history recorder (botocore turns an S3 200 whose XML it cannot parse,
    such as a key with a control character XML 1.0 cannot carry, into a 500 before any
    event sees it: S3 answers such keys the same way and offers ``EncodingType=url``)."""

    def __init__(self, client: Any) -> None:
        self.sent = False
        self.status: int | None = None
        client.meta.events.register("before-send", self._before_send)
        _WIRE.listener = self

    def reset(self) -> None:
        self.sent, self.status = False, None

    def _before_send(self, **kwargs: Any) -> None:
        self.sent = True


class _WireStatus:
    """The one handler of botocore's history recorder: hands each HTTP response's status
    to the exchange in progress."""

    def __init__(self) -> None:
        self.listener: Exchange | None = None
        recorder = get_global_history_recorder()
        recorder.add_handler(self)
        recorder.enable()

    def emit(self, event_type: str, payload: Any, source: str) -> None:
        if event_type == "HTTP_RESPONSE" and self.listener is not None:
            self.listener.status = payload["status_code"]


_WIRE = _WireStatus()


def _client(server: LiveServer, service: str) -> Any:
    return aws_client(service, server.url, "us-west-2", UNCHECKED)


@pytest.mark.parametrize(("service", "operation"), CASES, ids=[f"{s}.{o}" for s, o in CASES])
def test_operation_never_fails_on_the_server(
    fuzz_server: LiveServer, service: str, operation: str
) -> None:
    client = _client(fuzz_server, service)
    exchange = Exchange(client)
    model = botomodel.operation_model(service, operation)
    method = getattr(client, xform_name(operation))
    shape = model.input_shape
    params = strategy_for(shape) if shape is not None else st.just({})

    @given(params)
    def run(values: dict[str, Any]) -> None:
        exchange.reset()
        before = stored(fuzz_server)
        try:
            method(**values)
        except ClientError as error:
            status = exchange.status or error.response["ResponseMetadata"]["HTTPStatusCode"]
        except HTTPClientError:
            return  # the client's HTTP library refused to send it (e.g. a newline in a header)
        except Exception as error:  # botocore could not serialize it, or parse the answer
            assert not exchange.sent or exchange.status is None or exchange.status < 500, error
            if not exchange.sent:
                return
            status = exchange.status or 0
            assert status, f"{operation}: the answer could not be parsed: {error!r}"
        else:
            status = exchange.status or 200
        STATUSES[status] += 1
        # 501 is S3's NotImplemented for a feature hybridjobs does not serve (the routing
        # of an empty Key can name such an operation): an answer, not a failure.
        assert status < 500 or status == 501, f"{service}.{operation}: {status} to {values!r}"
        if status >= 400:
            assert stored(fuzz_server) == before, f"{operation} refused {values!r} but stored"

    run()


def test_found_by_fuzzing_java_patterns_are_checked_not_crashed_on(
    fuzz_server: LiveServer,
) -> None:
    """CloudWatch Logs tag keys have a Java pattern (``\\p{L}``) Python's ``re`` cannot
    compile: that was a 500 for any tagged CreateLogGroup."""
    logs = aws_client("logs", fuzz_server.url, "us-west-2", UNCHECKED)
    with pytest.raises(logs.exceptions.InvalidParameterException) as refused:
        logs.create_log_group(logGroupName="/fuzz/tags", tags={"": "x"})
    assert "tags" in str(refused.value)
    try:  # a valid key in a Unicode class passes the pattern
        logs.create_log_group(logGroupName="/aws/braket/jobs", tags={"équipe_1": "ok"})
    except ClientError as error:
        assert "tags" not in str(error), error
