"""``GET /metrics`` (Prometheus text format) and what the app does with each answered
request (count it, time it, log it)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from hybridjobs.observability.accesslog import RequestRecord, log_request
from hybridjobs.observability.metrics import REGISTRY, observe_request
from hybridjobs.wire.messages import WireRequest, WireResponse

METRICS_PATH = "/metrics"


def observe_answer(record: RequestRecord) -> None:
    """Count and time ``record`` and write its access line."""
    observe_request(record.service, record.operation, record.status, record.latency_ms / 1000)
    log_request(record)


def count_answer(record: RequestRecord) -> None:
    """Count and time ``record`` (no access line)."""
    observe_request(record.service, record.operation, record.status, record.latency_ms / 1000)


def answer_observer(metrics: bool, access_log: bool) -> Callable[[RequestRecord], None] | None:
    """What the app calls with each answered request: metrics and/or the access line."""
    if metrics:
        return observe_answer if access_log else count_answer
    return log_request if access_log else None


def metrics_route(collector: Collector, *more: Collector) -> Callable[[WireRequest], WireResponse]:
    """The ``/metrics`` route: the process's metrics, then ``collector``'s and ``more``'s
    (read from the service's state at each scrape, e.g. usage's)."""
    service = CollectorRegistry(auto_describe=False)
    for each in (collector, *more):
        service.register(each)

    def metrics(request: WireRequest) -> WireResponse:
        body = generate_latest(REGISTRY) + generate_latest(service)
        return WireResponse(200, {"Content-Type": CONTENT_TYPE_LATEST}, body)

    return metrics
