"""Spending limits over boto3 against a live server: the model's four operations, and
CreateQuantumTask refusing the task that would cross a limit (and not the one before)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tasks.conftest import BELL, GARNET, REGION, SV1, create_task

from hybridjobs.usage.prices import DEFAULT_PRICES
from usage.conftest import TaskServers

# A Garnet-native (verbatim) Bell pair: the emulated QPU has no compiler.
NATIVE = (
    "OPENQASM 3.0;\nbit[2] b;\n#pragma braket verbatim\nbox{\nprx(1.5707963267948966, 0.0) $1;"
    "\nprx(1.5707963267948966, 0.0) $2;\ncz $1, $2;\n}\nb[0] = measure $1;\nb[1] = measure $2;"
)
TASK_COST = DEFAULT_PRICES.task_estimate(GARNET, 100)  # $0.30 + 100 x $0.00145


def _error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def _limit(braket: Any, arn: str) -> dict[str, Any]:
    found = braket.search_spending_limits(
        filters=[{"name": "deviceArn", "values": [GARNET], "operator": "EQUAL"}]
    )["spendingLimits"]
    (limit,) = [x for x in found if x["spendingLimitArn"] == arn]
    summary: dict[str, Any] = limit
    return summary


def test_a_limit_refuses_the_task_that_would_cross_it_and_not_the_one_before(
    braket: Any,
) -> None:
    amount = (TASK_COST * 2).quantize(Decimal("0.01"))  # exactly two tasks: $0.89
    assert amount == TASK_COST * 2
    arn = braket.create_spending_limit(deviceArn=GARNET, spendingLimit=str(amount))[
        "spendingLimitArn"
    ]
    assert arn.startswith(f"arn:aws:braket:{REGION}:000000000000:spending-limit/")
    try:
        first = create_task(braket, NATIVE, device=GARNET, shots=100)
        second = create_task(braket, NATIVE, device=GARNET, shots=100)  # reaches the limit
        with pytest.raises(ClientError) as refused:
            create_task(braket, NATIVE, device=GARNET, shots=1)
        code, status, message = _error(refused)
        assert (code, status) == ("ValidationException", 400)
        assert "spendingLimit" in message and arn in message
        # Simulator tasks are not limited.
        create_task(braket, BELL, device=SV1, shots=10)

        summary = _limit(braket, arn)
        assert summary["spendingLimit"] == str(amount)
        assert Decimal(summary["totalSpend"]) + Decimal(summary["queuedSpend"]) == amount
        assert {first, second} <= {
            t["quantumTaskArn"]
            for t in braket.search_quantum_tasks(
                filters=[{"name": "deviceArn", "values": [GARNET], "operator": "EQUAL"}]
            )["quantumTasks"]
        }

        # Raising the limit lets the next task through.
        braket.update_spending_limit(spendingLimitArn=arn, spendingLimit=str(amount + 1))
        create_task(braket, NATIVE, device=GARNET, shots=1)
    finally:
        braket.delete_spending_limit(spendingLimitArn=arn)
    with pytest.raises(ClientError) as gone:
        braket.delete_spending_limit(spendingLimitArn=arn)
    assert _error(gone)[:2] == ("ResourceNotFoundException", 404)


def test_time_period_is_epoch_seconds_and_bounds_task_creation(braket: Any) -> None:
    now = time.time()
    arn = braket.create_spending_limit(
        deviceArn=GARNET,
        spendingLimit="100",
        timePeriod={"startAt": now + 3600, "endAt": now + 7200},
        tags={"team": "a"},
    )["spendingLimitArn"]
    try:
        summary = _limit(braket, arn)
        assert abs(summary["timePeriod"]["startAt"].timestamp() - (now + 3600)) < 0.01
        assert summary["tags"] == {"team": "a"}
        with pytest.raises(ClientError) as refused:
            create_task(braket, NATIVE, device=GARNET, shots=1)
        assert _error(refused)[0] == "ValidationException"
        assert "time period" in _error(refused)[2]
    finally:
        braket.delete_spending_limit(spendingLimitArn=arn)


def test_bad_limits_are_refused_with_the_field_named(braket: Any) -> None:
    with pytest.raises(ClientError) as simulator:
        braket.create_spending_limit(deviceArn=SV1, spendingLimit="5")
    assert _error(simulator)[0] == "ValidationException"
    assert "simulators do not support spending limits" in _error(simulator)[2]
    with pytest.raises(ClientError) as amount:
        braket.create_spending_limit(deviceArn=GARNET, spendingLimit="5.123")
    assert _error(amount)[0] == "ValidationException" and "spendingLimit" in _error(amount)[2]
    with pytest.raises(ClientError) as period:
        braket.create_spending_limit(
            deviceArn=GARNET, spendingLimit="5", timePeriod={"startAt": 10, "endAt": 5}
        )
    assert "timePeriod" in _error(period)[2]
    other = f"arn:aws:braket:{REGION}:000000000000:spending-limit/{uuid.uuid4()}"
    with pytest.raises(ClientError) as missing:
        braket.update_spending_limit(spendingLimitArn=other, spendingLimit="1")
    assert _error(missing)[:2] == ("ResourceNotFoundException", 404)


def test_a_repeated_client_token_is_ignored(braket: Any) -> None:
    token = str(uuid.uuid4())
    first = braket.create_spending_limit(clientToken=token, deviceArn=GARNET, spendingLimit="9")
    again = braket.create_spending_limit(clientToken=token, deviceArn=GARNET, spendingLimit="9")
    assert first["spendingLimitArn"] == again["spendingLimitArn"]
    braket.delete_spending_limit(spendingLimitArn=first["spendingLimitArn"])


def test_a_limit_holds_across_api_processes_sharing_the_database(
    task_servers: TaskServers,
) -> None:
    """Many CreateQuantumTask at once through two API processes on one database: exactly
    as many tasks as the limit allows get through, whichever process took them."""
    first = task_servers.started[0]
    second = task_servers.started[1] if len(task_servers.started) > 1 else task_servers.start()
    clients = [s.client("braket", region=REGION) for s in (first, second)]
    allowed = 4
    amount = (TASK_COST * allowed).quantize(Decimal("0.01"))
    assert amount == TASK_COST * allowed
    arn = clients[0].create_spending_limit(deviceArn=GARNET, spendingLimit=str(amount))[
        "spendingLimitArn"
    ]
    attempts = 10
    start = threading.Barrier(attempts)

    def attempt(index: int) -> str:
        client = clients[index % 2]
        start.wait()
        try:
            create_task(client, NATIVE, device=GARNET, shots=100)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "created"

    try:
        with ThreadPoolExecutor(attempts) as pool:
            outcomes = list(pool.map(attempt, range(attempts)))
        assert Counter(outcomes) == {
            "created": allowed,
            "ValidationException": attempts - allowed,
        }, outcomes
        summary = _limit(clients[1], arn)
        assert Decimal(summary["totalSpend"]) + Decimal(summary["queuedSpend"]) == amount
    finally:
        clients[0].delete_spending_limit(spendingLimitArn=arn)
