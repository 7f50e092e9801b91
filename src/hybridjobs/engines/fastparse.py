"""A fast parser for the plain OpenQASM 3 the Braket SDK writes, giving ANTLR's tree.

The ANTLR Python runtime needs ~0.35 ms per gate (a 22-qubit, 860-gate circuit: 0.3 s).
Programs made only of lines like the SDK's serialisation (``OPENQASM 3.0;``,
``input float|angle x;``, ``qubit[n] q;``, ``bit[n] b;``, ``name(args) q[i], $k;`` gate
calls without modifiers, ``b[i] = measure q[j];``, ``measure q;``, ``barrier ...;`` and
``#pragma ...`` lines) are parsed here with regular expressions and a small
precedence-climbing expression parser (``+ - * / % **``, unary ``-``, parentheses,
decimal literals, identifiers), producing exactly the nodes ANTLR's visitor produces (the
tests compare the two on a corpus and on random expressions). Anything else (comments,
keywords used as names, other literals, multi-line statements, ...) returns ``None`` and
the caller uses ANTLR, so the fast path can only be faster, never different.
"""

from __future__ import annotations

import re
from typing import Any

from braket.default_simulator.openqasm.parser import openqasm_ast as ast
from braket.default_simulator.openqasm.parser.generated.qasm3Lexer import qasm3Lexer

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_INDEXED_ID = rf"{_ID}(?:\s*\[\s*\d+\s*\])?"
_OPERAND = rf"(?:\$\d+|{_INDEXED_ID})"
_VERSION = re.compile(r"OPENQASM\s+(\d+(?:\.\d+)?)\s*;\s*")
_QUBITS = re.compile(rf"qubit\s*(?:\[\s*(\d+)\s*\])?\s+({_ID})")
_BITS = re.compile(rf"bit\s*(?:\[\s*(\d+)\s*\])?\s+({_ID})")
_INPUT = re.compile(rf"input\s+(float|angle)\s+({_ID})")
_MEASURE = re.compile(rf"(?:({_INDEXED_ID})\s*=\s*)?measure\s+({_OPERAND})")
_BARRIER = re.compile(rf"barrier(?:\s+({_OPERAND}(?:\s*,\s*{_OPERAND})*))?")
_GATE = re.compile(rf"({_ID})(?:\s*\((.*)\)\s*|\s+)({_OPERAND}(?:\s*,\s*{_OPERAND})*)")
_INDEXED = re.compile(rf"({_ID})\s*\[\s*(\d+)\s*\]")
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)"
                    rf"|(\d+)|({_ID})|(\*\*|[-+*/%(),]))")  # fmt: skip
_KEYWORDS = frozenset(
    {name.strip("'") for name in qasm3Lexer.literalNames if name[:1] == "'" and name[1:2].isalpha()}
    | {"pragma", "true", "false"}  # PRAGMA and BooleanLiteral are not plain literals
)
_ADDITIVE = {"+": ast.BinaryOperator["+"], "-": ast.BinaryOperator["-"]}
_MULTIPLICATIVE = {
    "*": ast.BinaryOperator["*"],
    "/": ast.BinaryOperator["/"],
    "%": ast.BinaryOperator["%"],
}


class _NotPlain(Exception):
    """The source needs the real parser."""


def fast_parse(source: str) -> Any | None:
    """ANTLR's ``Program`` for a plain SDK-style source, or None (use ANTLR)."""
    if "//" in source or "/*" in source:
        return None
    try:
        return _program(source)
    except _NotPlain:
        return None


def _program(source: str) -> Any:
    lines = source.split("\n")
    version = None
    statements: list[Any] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip(" \t\r")
        if not line:
            continue
        if version is None and not statements and line.startswith("OPENQASM"):
            match = _VERSION.fullmatch(line)
            if match is None:
                raise _NotPlain
            version = match.group(1)
            continue
        if line.startswith("#pragma"):
            statements.append(_span(_pragma(raw), number))
            continue
        if "#" in line or not line.endswith(";"):
            raise _NotPlain
        for piece in line[:-1].split(";"):
            statements.append(_span(_statement(piece.strip(" \t")), number))
    return ast.Program(statements=statements, version=version)


def _span(node: Any, line: int) -> Any:
    node.span = ast.Span(line, 0, line, 0)
    return node


def _pragma(raw: str) -> Any:
    rest = raw.lstrip(" \t")[len("#pragma") :].rstrip("\r")
    if rest and rest[0] not in " \t":
        raise _NotPlain  # e.g. "#pragmatic"
    content = rest.lstrip(" \t")
    if not content or "\r" in content:
        raise _NotPlain  # ANTLR rejects a bare pragma and ends one at "\r"
    return ast.Pragma(command=content)


def _statement(text: str) -> Any:
    if match := _QUBITS.fullmatch(text):
        return ast.QubitDeclaration(qubit=_identifier(match.group(2)), size=_size(match.group(1)))
    if match := _BITS.fullmatch(text):
        size = _size(match.group(1))
        return ast.ClassicalDeclaration(
            type=ast.BitType(size=size),
            identifier=_identifier(match.group(2)),
            init_expression=None,
        )
    if match := _INPUT.fullmatch(text):
        kind = ast.FloatType if match.group(1) == "float" else ast.AngleType
        return ast.IODeclaration(
            io_identifier=ast.IOKeyword.input,
            type=kind(size=None),
            identifier=_identifier(match.group(2)),
        )
    if match := _MEASURE.fullmatch(text):
        target = _operand(match.group(1)) if match.group(1) else None
        measure = ast.QuantumMeasurement(qubit=_operand(match.group(2)))
        return ast.QuantumMeasurementStatement(measure=measure, target=target)
    if match := _BARRIER.fullmatch(text):
        return ast.QuantumBarrier(qubits=_operands(match.group(1)))
    if match := _GATE.fullmatch(text):
        arguments = [] if match.group(2) is None else _arguments(match.group(2))
        return ast.QuantumGate(
            modifiers=[],
            name=_identifier(match.group(1)),
            arguments=arguments,
            qubits=_operands(match.group(3)),
            duration=None,
        )
    raise _NotPlain


def _size(digits: str | None) -> Any:
    return None if digits is None else ast.IntegerLiteral(value=int(digits))


def _identifier(name: str) -> Any:
    if name in _KEYWORDS:
        raise _NotPlain
    return ast.Identifier(name=name)


def _operands(text: str | None) -> list[Any]:
    return [] if text is None else [_operand(part.strip()) for part in text.split(",")]


def _operand(text: str) -> Any:
    if text.startswith("$"):
        return ast.Identifier(name=text)
    if match := _INDEXED.fullmatch(text):
        index = ast.IntegerLiteral(value=int(match.group(2)))
        return ast.IndexedIdentifier(name=_identifier(match.group(1)), indices=[[index]])
    return _identifier(text)


def _arguments(text: str) -> list[Any]:
    tokens = _tokens(text)
    if not tokens:
        raise _NotPlain
    parser = _Expressions(tokens)
    arguments = [parser.expression()]
    while parser.peek() == ",":
        parser.take()
        arguments.append(parser.expression())
    if parser.peek() is not None:
        raise _NotPlain
    return arguments


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` tokens: ``float``, ``int``, ``id`` or ``op``."""
    tokens: list[tuple[str, str]] = []
    position = 0
    end = len(text.rstrip(" \t"))
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            raise _NotPlain
        position = match.end()
        real, integer, name, operator = match.groups()
        if real is not None or integer is not None:
            following = text[position : position + 1]
            if following and (following.isalnum() or following in "_."):
                raise _NotPlain  # hex/binary, imaginary or timing literals, "1.2.3", ...
            tokens.append(("float", real) if real is not None else ("int", integer))
        elif name is not None:
            tokens.append(("id", name))
        else:
            tokens.append(("op", operator))
    return tokens


class _Expressions:
    """Precedence climbing matching qasm3Parser: additive < multiplicative < unary < power
    (right-associative) < parentheses / literals."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        if self.position >= len(self.tokens):
            return None
        kind, text = self.tokens[self.position]
        return text if kind == "op" else kind

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise _NotPlain
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self) -> Any:
        node = self.multiplicative()
        while (op := self.peek()) in _ADDITIVE:
            self.take()
            node = ast.BinaryExpression(lhs=node, op=_ADDITIVE[op], rhs=self.multiplicative())
        return node

    def multiplicative(self) -> Any:
        node = self.unary()
        while (op := self.peek()) in _MULTIPLICATIVE:
            self.take()
            node = ast.BinaryExpression(lhs=node, op=_MULTIPLICATIVE[op], rhs=self.unary())
        return node

    def unary(self) -> Any:
        if self.peek() == "-":
            self.take()
            return ast.UnaryExpression(op=ast.UnaryOperator["-"], expression=self.unary())
        return self.power()

    def power(self) -> Any:
        base = self.primary()
        if self.peek() == "**":
            self.take()
            return ast.BinaryExpression(lhs=base, op=ast.BinaryOperator["**"], rhs=self.unary())
        return base

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "float":
            return ast.FloatLiteral(value=float(text))
        if kind == "int":
            return ast.IntegerLiteral(value=int(text))
        if kind == "id":
            if self.peek() == "(":
                raise _NotPlain  # function call
            return _identifier(text)
        if text == "(":
            node = self.expression()
            if self.take() != ("op", ")"):
                raise _NotPlain
            return node
        raise _NotPlain
