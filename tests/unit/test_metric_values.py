"""NaN and infinite metric values: parsed like the SDK does, stored, read back."""

from __future__ import annotations

import math
from pathlib import Path

from hybridjobs.jobs.metrics import describe_metric_line, parse_metric_line
from hybridjobs.logtail import LogTail
from hybridjobs.store.base import MetricPoint
from hybridjobs.store.sql import SqlJobStore

ARN = "arn:aws:braket:us-west-2:000000000000:job/nan"


def _values(line: str) -> dict[str, float]:
    return {p.name: p.value for p in parse_metric_line(line, "algo-1", 5.0)}


def test_nan_and_infinities_are_values() -> None:
    # What braket.jobs.metrics.log_metric prints for float("nan"), inf and -inf.
    values = _values(
        "Metrics - timestamp=1700000000.5; loss=nan; grad=inf; low=-inf; big=-Infinity; "
        "ok=1.5; bad=abc; iteration_number=0;"
    )
    assert math.isnan(values.pop("loss"))
    assert values == {"grad": math.inf, "low": -math.inf, "big": -math.inf, "ok": 1.5}


def test_odd_timestamps_and_iteration_numbers_never_raise() -> None:
    for stamp, iteration in [
        ("nan", "inf"),
        ("inf", "nan"),
        ("-inf", "1e300"),
        ("x", "-1e19"),
    ]:
        points = parse_metric_line(
            f"Metrics - timestamp={stamp}; loss=1; iteration_number={iteration};", "a", 5.0
        )
        assert points == [MetricPoint("a", 5.0, "loss", 1.0, None)]
    points = parse_metric_line("Metrics - timestamp=7; loss=1; iteration_number=3.0;", "a", 5.0)
    assert points == [MetricPoint("a", 7.0, "loss", 1.0, 3)]


def test_describe_shows_nan() -> None:
    assert describe_metric_line("Metrics - timestamp=1; loss=nan; iteration_number=2;") == (
        "loss=nan  (iteration 2)"
    )


def test_the_store_keeps_nan_and_infinities_in_order(tmp_path: Path) -> None:
    store = SqlJobStore(f"sqlite:///{tmp_path}/hybridjobs.db")
    try:
        values = [1.0, math.nan, math.nan, math.inf, -math.inf, 2.0, math.nan]
        points = [MetricPoint("algo-1", 10.0 + i, "loss", v, i) for i, v in enumerate(values)]
        store.add_metrics(ARN, points)
        store.add_metrics(ARN, [MetricPoint("algo-2", 1.0, "loss", math.nan, None)])
        stored = store.list_metrics(ARN)
        assert [(p.instance, p.timestamp, p.iteration_number) for p in stored] == [
            (p.instance, p.timestamp, p.iteration_number) for p in points
        ] + [("algo-2", 1.0, None)]
        got = [p.value for p in stored]
        assert all(isinstance(v, float) for v in got)
        assert [repr(v) for v in got] == [repr(v) for v in [*values, math.nan]]
    finally:
        store.close()


def test_a_log_tail_ships_nan_lines(tmp_path: Path) -> None:
    log = tmp_path / "algo-1.log"
    log.write_text(
        "Metrics - timestamp=1700000000; loss=nan; iteration_number=0;\n"
        "Metrics - timestamp=1700000001; loss=inf; iteration_number=inf;\n"
    )
    events, metrics = LogTail("algo-1", log).read()
    assert len(events) == 2
    assert math.isnan(metrics[0].value) and metrics[0].iteration_number == 0
    assert metrics[1].value == math.inf and metrics[1].iteration_number is None
