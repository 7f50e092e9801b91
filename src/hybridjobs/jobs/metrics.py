"""The ``Metrics - ...`` lines that ``braket.jobs.metrics.log_metric`` prints.

Format (spec §4.5): ``Metrics - timestamp=<epoch>; <name>=<value>; [iteration_number=<n>;]``,
possibly behind an mpirun ``[job,rank]<stdout>:`` tag, which becomes part of the source
(the SDK's parser turns it into a node id too). One parser serves the scheduler, which
stores the points, and the CLI, which shows them.
"""

from __future__ import annotations

import contextlib
import re

from hybridjobs.store.base import MetricPoint

MARKER = "Metrics - "
_PAIR = re.compile(r"(\w+)\s*=\s*([^;]+)\s*;")
_NODE_TAG = re.compile(r"^\[([^\]]*)\]")


def parse_metric_line(line: str, instance: str, fallback_time: float) -> list[MetricPoint]:
    """The metric points of one output line (none when it is not a metrics line).

    ``fallback_time`` (epoch seconds) stands in for a missing or unreadable timestamp.
    """
    marker = line.find(MARKER)
    if marker < 0:
        return []
    pairs = {k: v.strip() for k, v in _PAIR.findall(line[marker + len(MARKER) :])}
    timestamp = fallback_time
    iteration: int | None = None
    with contextlib.suppress(ValueError):
        timestamp = float(pairs.pop("timestamp", fallback_time))
    with contextlib.suppress(ValueError):
        raw_iteration = pairs.pop("iteration_number", None)
        iteration = int(float(raw_iteration)) if raw_iteration is not None else None
    node = _NODE_TAG.match(line)
    source = f"{instance}{node.group(0)}" if node else instance
    points = []
    for name, raw in pairs.items():
        try:
            points.append(MetricPoint(source, timestamp, name, float(raw), iteration))
        except ValueError:
            continue
    return points


def describe_metric_line(line: str) -> str | None:
    """``name=value ...  (iteration n)`` for a metrics line; None for any other line."""
    points = parse_metric_line(line, "", 0.0)
    if not points:
        return None
    text = "  ".join(f"{p.name}={p.value:.6g}" for p in points)
    iteration = points[0].iteration_number
    return text + (f"  (iteration {iteration})" if iteration is not None else "")
