"""The usage surface: the spending-limit operations and checks the Braket surface routes
to, the price list (``GET /_hybridjobs/pricing/AmazonBraket/index.csv``, unsigned: the
SDK's Tracker fetches it with a plain GET) and the usage report
(``GET /_hybridjobs/usage``, JSON; signed when keys are configured).

Usage report query: ``account`` (default: the caller's; another account's usage needs
keys not to be configured or the caller to be the service's own account), ``since``
(epoch seconds or an ISO date-time), ``by`` (``job``, ``device``, ``instance-type``,
``day``, ``account``), ``job`` (repeatable: only these jobs and their tasks).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hybridjobs.devices.catalog import DeviceCatalog
from hybridjobs.errors import AccessDeniedException, ServiceError, ValidationException
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.service import Caller
from hybridjobs.runners.contract import PRICE_LIST_PATH
from hybridjobs.services.base import AwsService
from hybridjobs.services.braket import BraketService
from hybridjobs.settings import Settings
from hybridjobs.store.sql import SqlJobStore
from hybridjobs.store.sqlusage import SqlUsageRecords
from hybridjobs.timestamps import parse_iso8601
from hybridjobs.usage.budgets import BudgetStops, JobBudgets, tag_budget
from hybridjobs.usage.limits import SpendingLimits
from hybridjobs.usage.metrics import UsageCollector
from hybridjobs.usage.pricelist import render_price_list
from hybridjobs.usage.prices import PriceTable, load_prices
from hybridjobs.usage.report import GROUPINGS, summarize
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.regions import known_regions

USAGE_PATH = "/_hybridjobs/usage"

Operation = Callable[[Caller, dict[str, Any]], dict[str, Any]]


@dataclass
class UsageSurface:
    """Everything the transport needs of usage accounting."""

    store: SqlUsageRecords
    prices: PriceTable
    limits: SpendingLimits
    budgets: JobBudgets
    vcpus: Callable[[str], float | None]
    regions: Iterable[str]
    operator_account: str
    verifying: Callable[[], bool]

    def collector(self) -> UsageCollector:
        """The usage counters for ``/metrics`` (read from the usage records per scrape)."""
        return UsageCollector(self.store.engine, lambda: self.prices, self.vcpus)

    def operations(self) -> dict[str, Operation]:
        """The spending-limit operations, by model name."""
        return {
            "CreateSpendingLimit": self.limits.create_spending_limit,
            "UpdateSpendingLimit": self.limits.update_spending_limit,
            "DeleteSpendingLimit": self.limits.delete_spending_limit,
            "SearchSpendingLimits": self.limits.search_spending_limits,
        }

    def guard_create_job(self, create_job: Operation) -> Operation:
        """CreateJob, refused first when its ``hybridjobs:budget`` tag is not an amount
        or the caller's job budget is spent."""

        def operation(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
            tag_budget(params.get("tags") or {})
            self.budgets.check(caller)
            return create_job(caller, params)

        return operation

    def guard_tag_resource(self, tag_resource: Operation) -> Operation:
        """TagResource, refused when it sets ``hybridjobs:budget`` to anything but an
        amount (a job's budget tag may be changed while it runs)."""

        def operation(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
            tag_budget(params.get("tags") or {})
            return tag_resource(caller, params)

        return operation

    def guard_create_task(self, create_task: Operation) -> Operation:
        """CreateQuantumTask, checked against the caller's spending limits on its device
        and stored while the check holds."""

        def operation(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
            with self.limits.guard(caller.account_id, params["deviceArn"], int(params["shots"])):
                return create_task(caller, params)

        return operation

    # -- routes ---------------------------------------------------------------------------

    def price_list(self, request: WireRequest) -> WireResponse:
        """The price list as an AWS Price List bulk CSV offer file."""
        body = render_price_list(self.prices, self.regions)
        return WireResponse(200, {"Content-Type": "text/csv; charset=utf-8"}, body)

    def usage(self, request: WireRequest) -> WireResponse:
        """The usage report as JSON (see the module docstring); errors as JSON with the
        AWS error code."""
        try:
            body = self._usage(request)
        except ServiceError as error:
            document = {"__type": error.code, "message": str(error)}
            return WireResponse(
                error.status, {"Content-Type": "application/json"}, json.dumps(document).encode()
            )
        return WireResponse(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _usage(self, request: WireRequest) -> dict[str, Any]:
        query = request.query
        account = _one(query, "account") or request.account_id
        if account == "*":
            account_filter: str | None = None
        else:
            account_filter = account
        if (
            account != request.account_id
            and self.verifying()
            and request.account_id != self.operator_account
        ):
            raise AccessDeniedException(
                f"account: only the service's own account sees another account's usage "
                f"(you are {request.account_id})"
            )
        by = _one(query, "by") or "job"
        if by not in GROUPINGS:
            raise ValidationException(f"by: {by!r} is not one of {', '.join(GROUPINGS)}")
        since = _since(_one(query, "since"))
        jobs = query.get("job")
        records = self.store.usage_records(account_filter, since)
        if jobs:
            wanted = set(jobs)
            records = [r for r in records if r.job_arn in wanted]
        lines, total = summarize(records, self.prices, self.vcpus, by)
        return {
            "account": account,
            "since": since.isoformat() if since else None,
            "by": by,
            "currency": "USD",
            "prices": {
                "source": self.prices.source,
                "snapshotDate": self.prices.snapshot_date,
                "note": self.prices.note,
            },
            "lines": [line.as_json() for line in lines],
            "total": total.as_json(),
        }


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _since(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromtimestamp(float(text), tz=datetime.UTC)
    except ValueError:
        pass
    try:
        return parse_iso8601(text)
    except ValueError:
        raise ValidationException(
            f"since: {text!r} is neither epoch seconds nor an ISO 8601 date-time"
        ) from None


class _App(Protocol):
    extra_routes: dict[str, Callable[[WireRequest], WireResponse]]
    public_routes: set[str]

    @property
    def accounts(self) -> Any: ...


def install_usage(
    settings: Settings,
    store: SqlJobStore,
    catalog: DeviceCatalog,
    instance_types: Mapping[str, InstanceResources],
    braket: AwsService,
    app: _App,
) -> UsageSurface:
    """Wire usage accounting into a service: the spending-limit operations and the
    budget and limit checks on the Braket surface, the price list (unsigned) and the
    usage report routes."""
    assert isinstance(braket, BraketService)
    prices = load_prices(settings.prices_file)
    vcpus = _vcpus_of(instance_types)

    def device_kind(arn: str) -> str | None:
        device = catalog.get(arn)
        return None if device is None else str(device.device_type.value)

    surface = UsageSurface(
        store=store,
        prices=prices,
        limits=SpendingLimits(store, lambda: prices, device_kind),
        budgets=JobBudgets(settings.job_budgets, store, lambda: prices, vcpus),
        vcpus=vcpus,
        regions=known_regions([settings.default_region]),
        operator_account=settings.account_id,
        verifying=lambda: bool(app.accounts.verifying),
    )
    braket.operations.update(surface.operations())
    braket.operations["CreateJob"] = surface.guard_create_job(braket.operations["CreateJob"])
    braket.operations["TagResource"] = surface.guard_tag_resource(braket.operations["TagResource"])
    braket.operations["CreateQuantumTask"] = surface.guard_create_task(
        braket.operations["CreateQuantumTask"]
    )
    app.extra_routes[PRICE_LIST_PATH] = surface.price_list
    app.public_routes.add(PRICE_LIST_PATH)
    app.extra_routes[USAGE_PATH] = surface.usage
    return surface


def _vcpus_of(
    instance_types: Mapping[str, InstanceResources],
) -> Callable[[str], float | None]:
    def vcpus(instance_type: str) -> float | None:
        resources = instance_types.get(instance_type)
        return None if resources is None else resources.vcpus

    return vcpus


def budget_stops(
    settings: Settings, store: SqlJobStore, instance_types: Mapping[str, InstanceResources]
) -> BudgetStops:
    """The budget check of running jobs, for the scheduler's job supervisors: a job's
    ``hybridjobs:budget`` tag always; the account budgets with
    ``HYBRIDJOBS_JOB_BUDGETS_STOP_RUNNING``."""
    prices = load_prices(settings.prices_file)
    budgets = JobBudgets(settings.job_budgets, store, lambda: prices, _vcpus_of(instance_types))
    return BudgetStops(
        budgets, settings.job_budgets_stop_running, store.get_tags, store.job_usage_records
    )
