"""Spending limits on QPU tasks: CreateSpendingLimit, UpdateSpendingLimit,
DeleteSpendingLimit, SearchSpendingLimits (as botocore's ``braket`` model defines them),
and the check CreateQuantumTask makes.

A limit belongs to an account and one QPU device (simulators have none, as on AWS). It
counts the account's tasks on that device created within its time period (epoch seconds,
``startAt`` inclusive, ``endAt`` exclusive; without one, from its creation on):
``totalSpend`` is what its COMPLETED tasks cost, ``queuedSpend`` what its unfinished tasks
will cost when they complete (FAILED and CANCELLED tasks cost nothing). A new task is
refused with ValidationException when it is created outside a limit's period, or when
``totalSpend + queuedSpend`` plus its own estimate would exceed the limit; a task that
brings the spend exactly to the limit is accepted.

The check and the task's insert run under a lock of the process and a hold on the limits
in the database (:meth:`guard`; an advisory lock on PostgreSQL, a file lock next to a
SQLite database), so no two requests, of one API process or of several sharing the database,
can both take the last dollar.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any, Protocol

from hybridjobs.errors import ResourceNotFoundException, ValidationException
from hybridjobs.jobs.service import Caller
from hybridjobs.store.sqlusage import (
    SpendingLimitRow,
    SpendingLimitTokenConflict,
    TaskSpendRow,
)
from hybridjobs.usage.prices import COMPLETED, PriceTable

NO_END = 253402300799.0
"""The end of a limit created without a time period: 9999-12-31T23:59:59Z."""
DEFAULT_PAGE_SIZE = 20
UNFINISHED = frozenset({"QUEUED", "RUNNING", "CANCELLING"})
SEARCH_FILTERS = frozenset({"deviceArn"})


class LimitStore(Protocol):
    """What the spending limits need of the store (``store.sqlusage``)."""

    def create_spending_limit(
        self, limit: SpendingLimitRow, client_token: str, request_hash: str
    ) -> tuple[SpendingLimitRow, bool]: ...

    def get_spending_limit(self, spending_limit_arn: str) -> SpendingLimitRow | None: ...

    def update_spending_limit(
        self,
        spending_limit_arn: str,
        *,
        amount: str | None,
        period: tuple[float, float] | None,
        updated_at: float,
    ) -> bool: ...

    def delete_spending_limit(self, spending_limit_arn: str) -> bool: ...

    def spending_limits(
        self, account_id: str, device_arns: list[str] | None = None
    ) -> list[SpendingLimitRow]: ...

    def task_spend_rows(
        self, account_id: str, device_arn: str, start_at: float, end_at: float
    ) -> list[TaskSpendRow]: ...

    def holding_spending_limits(
        self, account_id: str, device_arn: str
    ) -> AbstractContextManager[None]: ...


def _period(params: dict[str, Any]) -> tuple[float, float] | None:
    period = params.get("timePeriod")
    if period is None:
        return None
    start = _epoch(period["startAt"])
    end = _epoch(period["endAt"])
    if end <= start:
        raise ValidationException("timePeriod: endAt must be later than startAt")
    return start, end


def _epoch(value: Any) -> float:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value)


def _hash(params: dict[str, Any]) -> str:
    material = {k: v for k, v in params.items() if k != "clientToken"}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _usd(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


class SpendingLimits:
    """The spending-limit operations and the CreateQuantumTask check, for the devices
    ``is_qpu`` accepts (a known device that is not a QPU is refused)."""

    def __init__(
        self,
        store: LimitStore,
        prices: Callable[[], PriceTable],
        device_kind: Callable[[str], str | None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.prices = prices
        self.device_kind = device_kind
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC).timestamp())
        self._lock = threading.Lock()

    # -- helpers --------------------------------------------------------------------------

    def _owned(self, caller: Caller, arn: str) -> SpendingLimitRow:
        limit = self.store.get_spending_limit(arn)
        if limit is None or limit.account_id != caller.account_id:
            raise ResourceNotFoundException(f"Spending limit {arn} not found.")
        return limit

    def spend(self, limit: SpendingLimitRow) -> tuple[Decimal, Decimal]:
        """``(totalSpend, queuedSpend)`` of a limit now (see the module docstring)."""
        prices = self.prices()
        total = Decimal(0)
        queued = Decimal(0)
        rows = self.store.task_spend_rows(
            limit.account_id, limit.device_arn, limit.start_at, limit.end_at
        )
        for row in rows:
            if row.status == COMPLETED:
                total += prices.task_estimate(limit.device_arn, row.shots)
            elif row.status in UNFINISHED:
                queued += prices.task_estimate(limit.device_arn, row.shots)
        return total, queued

    def _summary(self, limit: SpendingLimitRow) -> dict[str, Any]:
        total, queued = self.spend(limit)
        return {
            "spendingLimitArn": limit.spending_limit_arn,
            "deviceArn": limit.device_arn,
            "timePeriod": {"startAt": limit.start_at, "endAt": limit.end_at},
            "spendingLimit": limit.amount,
            "queuedSpend": _usd(queued),
            "totalSpend": _usd(total),
            "createdAt": limit.created_at,
            "updatedAt": limit.updated_at,
            "tags": limit.tags,
        }

    # -- operations -----------------------------------------------------------------------

    def create_spending_limit(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        device_arn = params["deviceArn"]
        kind = self.device_kind(device_arn)
        if kind is None:
            raise ValidationException(
                f"deviceArn: {device_arn!r} is not a device of this service; "
                "`aws braket search-devices --filters '[]'` lists them"
            )
        if kind != "QPU":
            raise ValidationException(
                f"deviceArn: {device_arn} is a simulator; simulators do not support spending limits"
            )
        now = self.clock()
        start, end = _period(params) or (now, NO_END)
        arn = f"arn:aws:braket:{caller.region}:{caller.account_id}:spending-limit/{uuid.uuid4()}"
        limit = SpendingLimitRow(
            spending_limit_arn=arn,
            account_id=caller.account_id,
            device_arn=device_arn,
            amount=params["spendingLimit"],
            start_at=start,
            end_at=end,
            tags=dict(params.get("tags") or {}),
            created_at=now,
            updated_at=now,
        )
        try:
            stored, _ = self.store.create_spending_limit(
                limit, params["clientToken"], _hash(params)
            )
        except SpendingLimitTokenConflict as exc:
            raise ValidationException(
                f"clientToken: {params['clientToken']!r} was already used for spending limit "
                f"{exc.spending_limit_arn} with a different request"
            ) from exc
        return {"spendingLimitArn": stored.spending_limit_arn}

    def update_spending_limit(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = self._owned(caller, params["spendingLimitArn"])
        self.store.update_spending_limit(
            limit.spending_limit_arn,
            amount=params.get("spendingLimit"),
            period=_period(params),
            updated_at=self.clock(),
        )
        return {}

    def delete_spending_limit(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = self._owned(caller, params["spendingLimitArn"])
        self.store.delete_spending_limit(limit.spending_limit_arn)
        return {}

    def search_spending_limits(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        devices: list[str] | None = None
        for spec in params.get("filters") or []:
            if spec["name"] not in SEARCH_FILTERS:
                raise ValidationException(
                    f"filters: {spec['name']!r} is not a filter of SearchSpendingLimits "
                    f"(use {', '.join(sorted(SEARCH_FILTERS))})"
                )
            values = list(spec["values"])
            devices = values if devices is None else [d for d in devices if d in values]
        limits = self.store.spending_limits(caller.account_id, devices)
        size = int(params.get("maxResults") or DEFAULT_PAGE_SIZE)
        start = 0
        if params.get("nextToken"):
            token = params["nextToken"]
            if not token.isdigit() or int(token) > len(limits):
                raise ValidationException("nextToken: not a token this search returned")
            start = int(token)
        page = limits[start : start + size]
        response: dict[str, Any] = {"spendingLimits": [self._summary(x) for x in page]}
        if start + size < len(limits):
            response["nextToken"] = str(start + size)
        return response

    # -- enforcement ----------------------------------------------------------------------

    @contextmanager
    def guard(self, account_id: str, device_arn: str, shots: int) -> Iterator[None]:
        """Check a new task against the account's limits on its device and hold the
        check until the caller has stored the task (the ``with`` body). Tasks on
        simulators, and on devices where the account has no limit, hold nothing."""
        if self.device_kind(device_arn) != "QPU" or not self.store.spending_limits(
            account_id, [device_arn]
        ):
            yield
            return
        with self._lock, self.store.holding_spending_limits(account_id, device_arn):
            self.check(account_id, device_arn, shots)
            yield

    def check(self, account_id: str, device_arn: str, shots: int) -> None:
        """Raise ValidationException when a task of ``shots`` shots on the device would
        break one of the account's spending limits."""
        limits = self.store.spending_limits(account_id, [device_arn])
        if not limits:
            return
        now = self.clock()
        estimate = self.prices().task_estimate(device_arn, shots)
        for limit in limits:
            if not limit.start_at <= now < limit.end_at:
                raise ValidationException(
                    f"spendingLimit: quantum tasks on {device_arn} may only be created "
                    f"within the time period of spending limit {limit.spending_limit_arn}"
                )
            total, queued = self.spend(limit)
            if total + queued + estimate > Decimal(limit.amount):
                raise ValidationException(
                    f"spendingLimit: this task (estimated ${_usd(estimate)}) would exceed "
                    f"spending limit {limit.spending_limit_arn} of ${limit.amount} on "
                    f"{device_arn}: ${_usd(total)} spent and ${_usd(queued)} queued"
                )
