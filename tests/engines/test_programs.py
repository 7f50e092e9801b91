"""The per-process AST cache and the simulators that read it."""

from __future__ import annotations

import pytest
from braket.ir.openqasm import Program

from engines.gate_corpus import ADVANCED, BELL, DM_CASES, MODIFIERS, SV_CASES, Case, reference
from engines.gate_corpus import assert_results_match as results_match
from hybridjobs.engines import programs
from hybridjobs.engines.facts import openqasm_facts
from hybridjobs.engines.lru import LruCache
from hybridjobs.engines.programs import (
    CachedDensityMatrixSimulator,
    CachedStateVectorSimulator,
    IncludeNotSupported,
    ProgramSyntaxError,
    parsed_program,
)


def test_a_source_is_parsed_once_per_process() -> None:
    first = parsed_program(BELL)
    assert parsed_program(BELL) is first
    assert parsed_program(BELL + "\n") is not first


def test_the_cache_forgets_the_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(programs, "_cache", LruCache(2))
    a, b, c = (f"OPENQASM 3.0;\nqubit[{n}] q;" for n in (1, 2, 3))
    kept = parsed_program(a)
    parsed_program(b)
    assert parsed_program(a) is kept  # a is now the most recent
    parsed_program(c)  # evicts b
    assert parsed_program(a) is kept
    assert programs._cache.get(b) == (False, None)


def test_the_cache_is_bounded_by_total_weight() -> None:
    cache: LruCache[str, int] = LruCache(10, max_weight=5)
    cache.put("a", 1, weight=3)
    cache.put("b", 2, weight=2)
    cache.put("c", 3, weight=2)  # 7 > 5: "a" goes
    assert cache.get("a") == (False, None) and cache.get("c") == (True, 3)
    cache.put("huge", 4, weight=6)  # heavier than the bound: not kept
    assert cache.get("huge") == (False, None) and len(cache) == 2


def test_validation_in_the_api_process_keeps_facts_but_not_trees() -> None:
    source = BELL + "\n// only validated"
    openqasm_facts(source, keep_tree=False)
    assert programs._cache.get(source) == (False, None)
    assert openqasm_facts(source) is openqasm_facts(source, keep_tree=False)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("OPENQASM 3.0;\nqubit[2] q;\nh q[0]\ncnot q[0], q[1];", "line 4: missing ';' at 'cnot'"),
        ("OPENQASM 3.0;\nqubit[2] q;\n\nh q[0;", "line 4: "),
        ('OPENQASM 3.0;\nqubit q;\nfor int i in [0:1] { include "x.inc"; }', "line 3: "),
    ],
)
def test_syntax_errors_name_the_line(source: str, message: str) -> None:
    with pytest.raises(ProgramSyntaxError) as raised:
        parsed_program(source)
    assert str(raised.value).startswith(message)


def test_stdgates_include_is_ignored_and_others_refused() -> None:
    standard = parsed_program('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit q;\nh q;')
    assert standard.includes == () and len(standard.ast.statements) == 2
    other = 'OPENQASM 3.0;\ninclude "/etc/passwd";\nqubit q;'
    assert parsed_program(other).includes == ("/etc/passwd",)
    with pytest.raises(IncludeNotSupported, match="/etc/passwd"):
        CachedStateVectorSimulator().parse_program(Program(source=other))


def test_a_source_ending_in_qasm_is_never_opened_as_a_file() -> None:
    source = BELL + "\n// see bell.qasm"
    result = CachedStateVectorSimulator().run_openqasm(Program(source=source), shots=0)
    assert result.resultTypes[0].value[0] == pytest.approx(0.5)


def test_trees_the_interpreter_rewrites_are_copied_per_visit() -> None:
    assert parsed_program(BELL).shareable
    assert not parsed_program(ADVANCED).shareable  # gate definition, loop, branch
    assert not parsed_program(MODIFIERS).shareable  # gphase


@pytest.mark.parametrize("case", SV_CASES + DM_CASES, ids=lambda case: case.name)
def test_cached_simulators_give_the_default_results(case: Case) -> None:
    source, inputs, dm = case.source, case.inputs, case.density_matrix_only
    simulator = CachedDensityMatrixSimulator() if dm else CachedStateVectorSimulator()
    expected = reference(source, inputs, 0, dm)
    for _ in range(2):  # the second run reads the cached tree
        got = simulator.run_openqasm(Program(source=source, inputs=inputs), shots=0)
        results_match(got, expected, 0)


def test_rerunning_a_copied_tree_with_other_inputs_matches_a_fresh_parse() -> None:
    simulator = CachedStateVectorSimulator()
    for theta in (0.1, 0.9, 2.0):
        got = simulator.run_openqasm(Program(source=ADVANCED, inputs={"theta": theta}), shots=0)
        results_match(got, reference(ADVANCED, {"theta": theta}, 0, False), 0)


def test_properties_are_built_once_per_class() -> None:
    simulator = CachedStateVectorSimulator()
    assert simulator.properties is CachedStateVectorSimulator().properties
    assert simulator.properties.paradigm.qubitCount == 26
