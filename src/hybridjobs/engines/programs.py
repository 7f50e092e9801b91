"""Parsed OpenQASM programs, cached per process, and simulators that use the cache.

The default simulator re-parses a program's text with the ANTLR Python runtime on every
run, which is most of the cost of a small circuit. :func:`parsed_program` parses each
distinct source once per process (LRU, :data:`CACHE_SIZE` entries; plain SDK-style text
through :mod:`fastparse`, which gives ANTLR's tree much faster, anything else through
ANTLR) and :class:`CachedInterpreter` visits the cached syntax tree instead of calling
``parse``.
The interpreter does not mutate the node types listed in ``_SHAREABLE``; a tree with any
other node (gate definitions, loops, ``gphase``, ...) is deep-copied before each visit, so
results are always the default simulator's.

Differences from ``Interpreter.run``, on purpose: a source is never treated as a file name
(the default treats a source ending in ``.qasm`` as a path to open), ``include
"stdgates.inc"`` is ignored and any other ``include`` is refused (the default opens the
named file on the server).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from braket.default_simulator import DensityMatrixSimulator, StateVectorSimulator
from braket.default_simulator.openqasm.interpreter import Interpreter
from braket.default_simulator.openqasm.parser import openqasm_ast as ast
from braket.default_simulator.openqasm.parser.openqasm_parser import QASM3ParsingError, parse

from hybridjobs.engines.fastparse import fast_parse
from hybridjobs.engines.lru import LruCache

CACHE_SIZE = 256
"""How many distinct program sources each process keeps parsed..."""
CACHE_SOURCE_CHARS = 1_000_000
"""...and how many source characters they may total (a tree takes ~350 bytes per
character: about 350 MB at most; a single larger program is parsed but not kept)."""

STANDARD_INCLUDE = "stdgates.inc"


class ProgramSyntaxError(ValueError):
    """The source is not valid OpenQASM 3; ``str(error)`` is ``"line L: what is wrong"``."""


class IncludeNotSupported(ValueError):
    """The program includes a file other than ``stdgates.inc``."""


@dataclass(frozen=True)
class ParsedProgram:
    """One source's syntax tree (``include "stdgates.inc"`` removed).

    ``shareable`` is true when the interpreter can visit ``ast`` repeatedly without
    changing it; otherwise callers visit a deep copy. ``includes`` lists the other files the
    program tried to include (such a program cannot run).
    """

    ast: Any
    shareable: bool
    includes: tuple[str, ...]

    def fresh_ast(self) -> Any:
        """A tree the interpreter may visit: the cached one or a private copy."""
        return self.ast if self.shareable else copy.deepcopy(self.ast)


_cache: LruCache[str, ParsedProgram] = LruCache(CACHE_SIZE, CACHE_SOURCE_CHARS)


def parsed_program(source: str, *, keep: bool = True) -> ParsedProgram:
    """The parsed form of ``source``, from this process's cache when seen before; a new
    parse is cached unless ``keep`` is false.

    Raises ProgramSyntaxError (not cached) when the source does not parse.
    """
    known, hit = _cache.get(source)
    if known and hit is not None:
        return hit
    parsed = _parse(source)
    if keep:
        _cache.put(source, parsed, len(source))
    return parsed


def clear_cache() -> None:
    """Forget every parsed program (tests and benchmarks use this)."""
    _cache.clear()


def _parse(source: str) -> ParsedProgram:
    try:
        tree = fast_parse(source) or parse(source)
    except QASM3ParsingError as error:
        raise ProgramSyntaxError(_describe_syntax_error(source, error)) from None
    except Exception as error:  # the ANTLR runtime raises assorted errors on odd input
        raise ProgramSyntaxError(f"{type(error).__name__}: {error}") from None
    includes = tuple(
        s.filename
        for s in tree.statements
        if isinstance(s, ast.Include) and s.filename != STANDARD_INCLUDE
    )
    statements = [
        s
        for s in tree.statements
        if not (isinstance(s, ast.Include) and s.filename == STANDARD_INCLUDE)
    ]
    if len(statements) != len(tree.statements):
        tree = ast.Program(statements=statements, version=tree.version)
    return ParsedProgram(ast=tree, shareable=_is_shareable(tree), includes=includes)


def _shorten(message: str, limit: int = 160) -> str:
    return message if len(message) <= limit else message[: limit - 3].rstrip() + "..."


def _describe_syntax_error(source: str, error: Exception) -> str:
    """``"line L: message"`` for the first syntax error ANTLR reports in ``source``."""
    text = str(error)
    if text.startswith("L") and ":C" in text:  # "L4:C22: 'include' statements must be global"
        position, _, message = text.partition(": ")
        return f"line {position[1:].split(':')[0]}: {message}"
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from braket.default_simulator.openqasm.parser.generated.qasm3Lexer import qasm3Lexer
    from braket.default_simulator.openqasm.parser.generated.qasm3Parser import qasm3Parser

    found: list[str] = []

    class _Collect(ErrorListener):  # type: ignore[misc]
        def syntaxError(
            self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
        ) -> None:
            found.append(f"line {line}: {_shorten(msg)}")

    lexer = qasm3Lexer(InputStream(source))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Collect())
    parser = qasm3Parser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Collect())
    with contextlib.suppress(Exception):  # only the collected message matters
        parser.program()
    return found[0] if found else text or "the program is not valid OpenQASM 3"


_SHAREABLE: tuple[type, ...] = (
    ast.Program,
    ast.QubitDeclaration,
    ast.ClassicalDeclaration,
    ast.IODeclaration,
    ast.BitType,
    ast.FloatType,
    ast.AngleType,
    ast.IntType,
    ast.UintType,
    ast.BoolType,
    ast.QuantumGate,
    ast.Identifier,
    ast.IndexedIdentifier,
    ast.IntegerLiteral,
    ast.FloatLiteral,
    ast.BooleanLiteral,
    ast.BinaryExpression,
    ast.UnaryExpression,
    ast.QuantumMeasurementStatement,
    ast.QuantumMeasurement,
    ast.QuantumBarrier,
    ast.QuantumReset,
    ast.Pragma,
)


def _is_shareable(tree: Any) -> bool:
    """True when every node is of a type the interpreter only reads.

    Gate modifiers are the exception: visiting one writes its evaluated argument back, so a
    tree with modifiers is shareable only when every modifier argument is absent or a literal
    (the write is then idempotent).
    """
    for node in iter_nodes(tree):
        if isinstance(node, ast.QuantumGateModifier):
            if node.argument is not None and not isinstance(
                node.argument, ast.IntegerLiteral | ast.FloatLiteral
            ):
                return False
        elif not isinstance(node, _SHAREABLE):
            return False
    return True


def iter_nodes(node: Any) -> Iterator[Any]:
    """Every AST node under ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list | tuple):
            stack.extend(reversed(current))
        elif isinstance(current, ast.QASMNode):
            yield current
            for item in dataclasses.fields(current):
                if item.name != "span":
                    stack.append(getattr(current, item.name))


def interpret(context: Any, source: str, inputs: dict[str, Any] | None) -> Any:
    """Run the interpreter over the cached tree of ``source`` into ``context``; return it."""
    return CachedInterpreter(context, warn_advanced_features=True).run(source, inputs)


class CachedInterpreter(Interpreter):  # type: ignore[misc]
    """An Interpreter whose ``run`` visits the cached tree of the source (never a file)."""

    def run(self, source: str, inputs: dict[str, Any] | None = None, is_file: bool = False) -> Any:
        parsed = parsed_program(source)
        if parsed.includes:
            raise IncludeNotSupported(
                f"include {parsed.includes[0]!r} is not supported; only "
                f"{STANDARD_INCLUDE!r} may be included"
            )
        if inputs:
            self.context.load_inputs(inputs)
        self._uses_advanced_language_features = False
        self._input_names: set[str] = set()
        self._output_names: set[str] = set()
        self.visit(parsed.fresh_ast())
        if self._warn_advanced_features and self._uses_advanced_language_features:
            self.logger.warning(
                "This program uses OpenQASM language features that may "
                "not be supported on QPUs or on-demand simulators."
            )
        return self.context


_properties: dict[type, Any] = {}


class CachedParsingMixin:
    """Simulator mixin: programs are interpreted from the AST cache, and ``properties``
    (rebuilt from JSON by the default simulator on every run) is built once per class."""

    if TYPE_CHECKING:

        def create_program_context(self) -> Any:
            """Provided by the simulator class this is mixed into."""

    def parse_program(self, program: Any) -> Any:
        """The program's context, interpreted from the cached tree."""
        return interpret(self.create_program_context(), program.source, program.inputs)

    def _parse_program_with_shots(self, program: Any, shots: int) -> Any:
        context = self.create_program_context()
        context._shots = shots
        return interpret(context, program.source, program.inputs)

    @property
    def properties(self) -> Any:
        cls = type(self)
        cached = _properties.get(cls)
        if cached is None:
            cached = _properties[cls] = super().properties  # type: ignore[misc]
        return cached


class CachedStateVectorSimulator(CachedParsingMixin, StateVectorSimulator):  # type: ignore[misc]
    """The default state-vector simulator, parsing through the AST cache."""


class CachedDensityMatrixSimulator(CachedParsingMixin, DensityMatrixSimulator):  # type: ignore[misc]
    """The default density-matrix simulator, parsing through the AST cache."""
