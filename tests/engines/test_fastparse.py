"""The fast parser returns exactly ANTLR's tree, or None (never a different tree)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from braket.circuits import Circuit, FreeParameter, Observable, noises
from braket.circuits.serialization import IRType
from braket.default_simulator.openqasm.parser.openqasm_parser import QASM3ParsingError, parse

from engines.gate_corpus import DM_CASES, MEASURED, SAMPLED, SV_CASES
from hybridjobs.engines.fastparse import fast_parse


def _sdk_programs() -> list[str]:
    a, b = FreeParameter("alpha"), FreeParameter("beta")
    circuit = (
        Circuit()
        .h(0)
        .rx(1, a)
        .ry(2, 2 * a + b)
        .rz(0, -b / 3)
        .cnot(0, 1)
        .cphaseshift(1, 2, a * b)
        .xx(0, 2, 0.1)
        .ccnot(0, 1, 2)
        .unitary([1], np.array([[0, 1], [1, 0]]))
        .expectation(Observable.Z() @ Observable.X(), [0, 1])
        .probability([2])
    )
    measured = Circuit().h(0).cnot(0, 3).rx(3, 1e-7).measure([0, 3])
    noisy = Circuit().h(0).bit_flip(0, 0.1).depolarizing(1, 0.2).cnot(0, 1).density_matrix()
    noisy.apply_gate_noise(noises.PhaseFlip(0.05))
    return [c.to_ir(IRType.OPENQASM).source for c in (circuit, measured, noisy)]


PLAIN = [
    *(case.source for case in SV_CASES + DM_CASES if case.compiled),
    MEASURED,
    SAMPLED,
    *_sdk_programs(),
    "qubit[2] q;\nh q[0];\nmeasure q;",
    "OPENQASM 3;\nbit b;\nqubit q;\nb = measure q;\nbarrier q, $1;\nbarrier;",
    "OPENQASM 3.0;\r\nqubit[2] q;\r\n  cnot q [ 1 ] ,q[0] ;\r\n#pragma braket result probability  \r\n",
    "OPENQASM 3.0;\nqubit[1] q;\nrx(1.) q[0];\nrx(.5e-3) q[0];\nrx(2E+2) q[0];\nrx(007) q[0];",
]


@pytest.mark.parametrize("source", PLAIN, ids=range(len(PLAIN)))
def test_plain_programs_parse_to_antlrs_tree(source: str) -> None:
    fast = fast_parse(source)
    assert fast is not None
    assert fast == parse(source)


FALLBACK = [
    "qubit q;\nh q; // comment",
    "qubit q;\n/* block */ h q;",
    "qubit[2] q;\nctrl @ x q[0], q[1];",
    "qubit q;\nrx(1_000) q;",
    "qubit q;\nrx(0x1F) q;",
    "qubit q;\nrx(2im) q;",
    "qubit q;\nrx(2 im) q;",
    "qubit q;\nrx(1ns) q;",
    "qubit q;\nrx(sin(1)) q;",
    "qubit q;\nrx(+1) q;",
    "qubit q;\nrx(~1) q;",
    "qubit q;\nrx(1.2.3) q;",
    "qubit measure;",
    "qubit q;\nreset q;",
    "qubit q;\nhq[0];",
    "qubit q;\nh\nq;",
    "#pragmatic\nqubit q;",
    "pragma braket result probability\nqubit q;",
    "qubit q;\nh q;\n#pragma braket result\rprobability",
    "qubit q;\nh q; #pragma braket result probability",
    "qubit qé;",
    "input int n;\nqubit q;",
    "input float[64] x;\nqubit q;",
    "qubit q;\nbit b;\n$0 = measure q;",
    "qubit q;\nx = 1;",
    "qubit q;\ngphase(0.1);",
    "qubit q;\nh q[0:1];",
    "OPENQASM 3.0; qubit q;",
    'include "stdgates.inc";\nqubit q;',
    "#pragma\nqubit q;",
]


@pytest.mark.parametrize("source", FALLBACK, ids=range(len(FALLBACK)))
def test_anything_else_falls_back_to_antlr(source: str) -> None:
    assert fast_parse(source) is None


_ATOMS = ["1", "2", "0", "3.5", "1.", ".25", "1e-3", "2.5E+2", "a", "b", "pi", "tau", "x1"]
_BINARY = ["+", "-", "*", "/", "%", "**"]


def _expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(_ATOMS)
    roll = rng.random()
    if roll < 0.2:
        return "-" + _expression(rng, depth - 1)
    if roll < 0.35:
        return f"({_expression(rng, depth - 1)})"
    space = rng.choice(["", " "])
    op = rng.choice(_BINARY)
    return f"{_expression(rng, depth - 1)}{space}{op}{space}{_expression(rng, depth - 1)}"


def test_random_expressions_parse_like_antlr() -> None:
    rng = random.Random(20240611)
    for _ in range(300):
        arguments = ", ".join(_expression(rng, 4) for _ in range(rng.randint(1, 3)))
        source = f"OPENQASM 3.0;\ninput float a;\nqubit[2] q;\nu3({arguments}) q[0], $1;"
        fast = fast_parse(source)
        assert fast is not None, source
        assert fast == parse(source), source


_STATEMENTS = [
    "rx(0.5 * a) q[1];", "cnot q[0], $1;", "b[1] = measure q[0];", "measure $0;", "h q;",
    "input float a;", "bit[2] c;", "qubit r;", "barrier q[0], r;", "u(1, -2.5e-1, a**2) q[0];",
    "#pragma braket result expectation z(q[0])", "b = measure q;",
]  # fmt: skip
_NOISE = ["", " ", "(", ")", "[", "]", ",", ";", "-", "*", "=", "$", "1", ".", "e", "a", "#"]


def _mutate(rng: random.Random, text: str) -> str:
    position = rng.randrange(len(text) + 1)
    roll = rng.random()
    if roll < 0.4 and position < len(text):
        return text[:position] + text[position + 1 :]  # delete a character
    return text[:position] + rng.choice(_NOISE) + text[position:]  # insert one


def test_random_near_misses_never_give_a_different_tree() -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(400):
        line = _mutate(rng, rng.choice(_STATEMENTS))
        source = f"OPENQASM 3.0;\ninput float a;\nqubit[2] q;\nbit[2] b;\n{line}"
        fast = fast_parse(source)
        if fast is None:
            continue
        checked += 1
        try:
            expected = parse(source)
        except QASM3ParsingError:
            pytest.fail(f"fast parse accepted a program ANTLR rejects: {source!r}")
        assert fast == expected, source
    assert checked > 10
