"""The ``Metrics - ...`` lines that ``braket.jobs.metrics.log_metric`` prints.

Format (spec §4.5): ``Metrics - timestamp=<epoch>; <name>=<value>; [iteration_number=<n>;]``,
possibly behind an mpirun ``[job,rank]<stdout>:`` tag, which becomes part of the source
(the SDK's parser turns it into a node id too). One parser serves the scheduler, which
stores the points, and the CLI, which shows them.
"""

from __future__ import annotations

import math
import re

from hybridjobs.jobs.ports import MetricPoint

MARKER = "Metrics - "
_PAIR = re.compile(r"(\w+)\s*=\s*([^;]+)\s*;")
_NODE_TAG = re.compile(r"^\[([^\]]*)\]")
_MAX_ITERATION = 2.0**63  # what an iteration number column holds


def parse_metric_line(line: str, instance: str, fallback_time: float) -> list[MetricPoint]:
    """The metric points of one output line (none when it is not a metrics line).

    ``fallback_time`` (epoch seconds) stands in for a missing, unreadable or non-finite
    timestamp. Values may be NaN or ±inf (a loss that diverged); an iteration number that
    is not a finite integer of 64 bits is dropped (None).
    """
    marker = line.find(MARKER)
    if marker < 0:
        return []
    pairs = {k: v.strip() for k, v in _PAIR.findall(line[marker + len(MARKER) :])}
    timestamp = _number(pairs.pop("timestamp", None))
    if timestamp is None or not math.isfinite(timestamp):
        timestamp = fallback_time
    iteration: int | None = None
    raw_iteration = _number(pairs.pop("iteration_number", None))
    if raw_iteration is not None and abs(raw_iteration) < _MAX_ITERATION:  # False for NaN
        iteration = int(raw_iteration)
    node = _NODE_TAG.match(line)
    source = f"{instance}{node.group(0)}" if node else instance
    points = []
    for name, raw in pairs.items():
        value = _number(raw)
        if value is not None:  # NaN and ±inf included, as the SDK's parser keeps them
            points.append(MetricPoint(source, timestamp, name, value, iteration))
    return points


def _number(text: str | None) -> float | None:
    """``float(text)`` (``nan``, ``inf``, ``-Infinity`` included); None when unreadable."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def describe_metric_line(line: str) -> str | None:
    """``name=value ...  (iteration n)`` for a metrics line; None for any other line."""
    points = parse_metric_line(line, "", 0.0)
    if not points:
        return None
    text = "  ".join(f"{p.name}={p.value:.6g}" for p in points)
    iteration = points[0].iteration_number
    return text + (f"  (iteration {iteration})" if iteration is not None else "")
