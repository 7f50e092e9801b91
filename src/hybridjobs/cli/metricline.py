"""The ``Metrics - name=value; ...`` lines ``braket.jobs.metrics.log_metric`` prints.

The format (spec §4.5): ``Metrics - timestamp=<epoch>; <name>=<value>; [iteration_number=<n>;]``,
possibly behind an mpirun ``[job,rank]<stdout>:`` tag, which becomes part of the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = "Metrics - "
_PAIR = re.compile(r"(\w+)\s*=\s*([^;]+)\s*;")
_NODE = re.compile(r"^\[([^\]]*)\]")


@dataclass(frozen=True)
class Point:
    """One metric value: ``timestamp`` in epoch seconds, ``iteration`` when logged."""

    name: str
    value: float
    instance: str
    timestamp: float
    iteration: int | None


def parse_line(message: str, instance: str, fallback_time: float) -> list[Point]:
    """The points of one ``Metrics - ...`` log line (none for any other line)."""
    marker = message.find(MARKER)
    if marker < 0:
        return []
    node = _NODE.match(message)
    source = f"{instance}{node.group(0)}" if node else instance
    pairs = {k: v.strip() for k, v in _PAIR.findall(message[marker + len(MARKER) :])}
    timestamp, iteration = fallback_time, None
    try:
        timestamp = float(pairs.pop("timestamp", fallback_time))
        raw_iteration = pairs.pop("iteration_number", None)
        iteration = int(float(raw_iteration)) if raw_iteration is not None else None
    except ValueError:
        pass
    points = []
    for name, raw in pairs.items():
        try:
            points.append(Point(name, float(raw), source, timestamp, iteration))
        except ValueError:
            continue
    return points


def describe_line(message: str) -> str | None:
    """``name=value ...  (iteration n)`` for a metrics line; None for any other line."""
    points = parse_line(message, "", 0.0)
    if not points:
        return None
    text = "  ".join(f"{p.name}={p.value:.6g}" for p in points)
    iteration = points[0].iteration
    return text + (f"  (iteration {iteration})" if iteration is not None else "")
