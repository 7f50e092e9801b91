"""The benchmarks compare like with like (issue 12, "Honest benchmarks").

- The zygote's warm-up parses neutral circuits, never the gates of the benchmarks' Bell
  job, so a warm-pool figure never times a circuit the zygote already parsed; and it still
  warms what it says it warms.
- The pages say when the machine was shared (1-minute load average above 2).

``benchmarks/`` is not an installed package: its harness is loaded from its file.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from hybridjobs.runners.zygote import WARM_UP_CIRCUITS, warm_up

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "harness.py"


def load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_harness_under_test", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_warm_up_circuits_share_no_gate_with_the_benchmark_bell_job() -> None:
    bell_gates = set(re.findall(r"\.(\w+)\(", load_harness().BELL_SCRIPT)) & {"h", "cnot"}
    assert bell_gates == {"h", "cnot"}, "the Bell job changed: update this test"
    warm_gates = {gate for circuit in WARM_UP_CIRCUITS for gate, _ in circuit}
    assert warm_gates, "the warm-up parses no circuit"
    assert not warm_gates & bell_gates


def test_warm_up_still_warms_the_parser_and_the_simulator_models() -> None:
    import braket.circuits  # warm_up warms only what is imported
    import braket.devices  # noqa: F401

    assert warm_up() == ["openqasm-parser", "local-simulator-properties"]


def test_load_note_says_when_the_machine_was_shared() -> None:
    harness = load_harness()
    assert "otherwise quiet" in harness.load_note(0.4, 1.9)
    busy = harness.load_note(1.0, 5.2)
    assert "shared with other work" in busy
    assert "5.2 at the end" in busy
