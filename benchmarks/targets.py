"""The issue's targets, each as a ratio of figures measured in this run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.harness import Stat, ms, table

if TYPE_CHECKING:
    from benchmarks.suite import Context


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def run_targets(context: Context) -> str:
    f = context.figures
    rows: list[list[str]] = []

    def have(*names: str) -> bool:
        return all(name in f and f[name].n for name in names)

    if have("warm.first_line", "fresh.first_line", "ratio.fresh_over_warm_first_line"):
        warm, fresh = f["warm.first_line"], f["fresh.first_line"]
        pairs: Stat = f["ratio.fresh_over_warm_first_line"]
        ratio = fresh.median / warm.median
        rows.append(
            [
                "create → first user line, warm pool ≤ 1/20 of a fresh process",
                f"warm {ms(warm.median)}, fresh {ms(fresh.median)}",
                f"1/{ratio:.1f} (per round: 1/{pairs.median:.1f}, worst 1/{pairs.low:.1f})",
                _met(ratio >= 20),
            ]
        )
    if have("ray.completed", "ray_round.warm_completed", "ratio.ray_over_warm_completed"):
        ray, warm = f["ray.completed"], f["ray_round.warm_completed"]
        pairs = f["ratio.ray_over_warm_completed"]
        ratio = ray.median / warm.median
        rows.append(
            [
                "create → COMPLETED ≥ 20x faster than Ray Jobs (same job)",
                f"warm {ms(warm.median)}, Ray {ms(ray.median)}",
                f"{ratio:.1f}x (per round: {pairs.median:.1f}x, worst {pairs.low:.1f}x)",
                _met(ratio >= 20),
            ]
        )
        if have("ray_round.cold_completed", "ratio.ray_over_cold_completed"):
            cold, pairs = f["ray_round.cold_completed"], f["ratio.ray_over_cold_completed"]
            rows.append(
                [
                    "like for like, no target: cold path (nothing preloaded) vs Ray Jobs",
                    f"cold {ms(cold.median)}, Ray {ms(ray.median)}",
                    f"{ray.median / cold.median:.2f}x (per round: {pairs.median:.2f}x, "
                    f"worst {pairs.low:.2f}x)",
                    "n/a",
                ]
            )
    elif have("warm.completed"):
        rows.append(
            [
                "create → COMPLETED ≥ 20x faster than Ray Jobs (same job)",
                f"warm {ms(f['warm.completed'].median)}",
                "not measured (ray section skipped or ray not installed)",
                "n/a",
            ]
        )
    if have("throughput.default"):
        default = f["throughput.default"]
        raised = f.get("throughput.raised")
        shown = f"{default.median:.1f} jobs/s at default capacity"
        if raised is not None and raised.n:
            shown += f", {raised.median:.1f} with capacity for all 200"
        best = max(default.median, raised.median if raised is not None and raised.n else 0.0)
        rows.append(
            [
                "≥ 20 trivial jobs completed per second",
                shown,
                f"{default.median / 20:.2f}x of target (default capacity)",
                _met(default.median >= 20)
                + ("" if default.median >= 20 else f" (raised: {_met(best >= 20)})"),
            ]
        )
    if have("cold_minus_fresh.first_line", "cold.first_line", "fresh.first_line"):
        overhead = f["cold_minus_fresh.first_line"]
        cpu = f.get("cold_minus_fresh.first_line_cpu")
        cpu_text = f"; CPU time {cpu.median * 1000:+.0f} ms" if cpu is not None and cpu.n else ""
        rows.append(
            [
                "cold path ≤ plain subprocess + 100 ms (first user line)",
                f"cold {ms(f['cold.first_line'].median)}, fresh {ms(f['fresh.first_line'].median)}",
                f"{overhead.median * 1000:+.0f} ms per round (min {overhead.low * 1000:+.0f}, "
                f"max {overhead.high * 1000:+.0f}){cpu_text}",
                _met(overhead.median <= 0.1),
            ]
        )
    return "\n".join(
        [
            "## Targets (issue 6), measured in this run",
            "",
            table(["target", "figures (medians)", "ratio", "met"], rows, right_from=4),
        ]
    )
