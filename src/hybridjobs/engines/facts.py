"""What a program uses, read statically from its syntax tree (no interpretation).

Validation compares these facts with a device's capabilities. Facts of an OpenQASM
source are cached per process next to its parsed tree, so validating the same text again
(a variational loop sends one text with new inputs) costs a dictionary lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from braket.default_simulator.openqasm.parser import openqasm_ast as ast

from hybridjobs.engines.lru import LruCache
from hybridjobs.engines.programs import (
    CACHE_SOURCE_CHARS,
    ParsedProgram,
    iter_nodes,
    parsed_program,
)


class ProgramProblem(ValueError):
    """The program can never run; ``str(error)`` says why (without the ``action:`` prefix)."""


@dataclass(frozen=True)
class ResultFact:
    """One requested result type: its capability name (``Expectation``, ``StateVector``,
    ...) and its observable factor names (``x``, ``hermitian``, ...; empty if none or not
    known)."""

    name: str
    observables: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProgramFacts:
    """The static facts of one program (OpenQASM or JAQCD).

    ``qubit_count`` counts declared qubits plus distinct physical qubits (``None`` when a
    declaration's size is not a literal). ``operations`` are the built-in gate, noise and
    ``unitary`` names used, as written; ``modifiers`` the gate modifiers used; ``inputs``
    the declared ``input`` names.
    """

    qubit_count: int | None
    operations: frozenset[str]
    modifiers: frozenset[str]
    inputs: tuple[str, ...]
    results: tuple[ResultFact, ...]


_RESULT_NAMES = {
    "state_vector": "StateVector",
    "probability": "Probability",
    "density_matrix": "DensityMatrix",
    "amplitude": "Amplitude",
    "expectation": "Expectation",
    "variance": "Variance",
    "sample": "Sample",
    "adjoint_gradient": "AdjointGradient",
}
_PHYSICAL = re.compile(r"\$(\d+)")
NOISE_OPERATIONS = frozenset(
    name.replace("_", "")
    for name in (
        "amplitude_damping", "bit_flip", "depolarizing", "generalized_amplitude_damping",
        "kraus", "pauli_channel", "two_qubit_pauli_channel", "phase_flip", "phase_damping",
        "two_qubit_dephasing", "two_qubit_depolarizing",
    )
)  # fmt: skip
"""Noise operation names, lower case without underscores (as the default simulator
compares them)."""

_facts: LruCache[str, ProgramFacts | str] = LruCache(1024, 4 * CACHE_SOURCE_CHARS)


def openqasm_facts(source: str, *, keep_tree: bool = True) -> ProgramFacts:
    """The facts of an OpenQASM source (cached; the parsed tree is cached too when
    ``keep_tree``). Raises ProgramSyntaxError when it does not parse and ProgramProblem
    when it uses something no device runs (an ``include`` other than ``stdgates.inc``, an
    unknown or malformed pragma)."""
    known, cached = _facts.get(source)
    if not known:
        try:
            cached = _openqasm_facts(parsed_program(source, keep=keep_tree))
        except ProgramProblem as problem:
            cached = str(problem)
        _facts.put(source, cached, len(source))
    if isinstance(cached, str):
        raise ProgramProblem(cached)
    assert cached is not None
    return cached


def _openqasm_facts(parsed: ParsedProgram) -> ProgramFacts:
    if parsed.includes:
        raise ProgramProblem(
            f"include {parsed.includes[0]!r} is not supported; only 'stdgates.inc' may be included"
        )
    nodes = list(iter_nodes(parsed.ast))
    defined = {n.name.name for n in nodes if isinstance(n, ast.QuantumGateDefinition)}
    registers: dict[str, tuple[int, ...]] = {}
    declared: int | None = 0
    physical: set[str] = set()
    operations: set[str] = set()
    modifiers: set[str] = set()
    inputs: list[str] = []
    pragmas: list[Any] = []
    for node in nodes:
        if isinstance(node, ast.QubitDeclaration):
            size = 1 if node.size is None else node.size
            if isinstance(size, ast.IntegerLiteral):
                size = size.value
            if isinstance(size, int) and declared is not None:
                registers[node.qubit.name] = tuple(range(declared, declared + size))
                declared += size
            else:
                declared = None
        elif isinstance(node, ast.QuantumGate):
            if node.name.name not in defined:
                operations.add(node.name.name)
            modifiers.update(m.modifier.name for m in node.modifiers)
        elif isinstance(node, ast.QuantumPhase):
            operations.add("gphase")
            modifiers.update(m.modifier.name for m in node.modifiers)
        elif isinstance(node, ast.Identifier) and node.name.startswith("$"):
            physical.add(node.name[1:])
        elif isinstance(node, ast.IODeclaration) and node.io_identifier == ast.IOKeyword.input:
            inputs.append(node.identifier.name)
        elif isinstance(node, ast.Pragma):
            pragmas.append(node)
    results: list[ResultFact] = []
    for pragma in pragmas:
        command = pragma.command.strip()
        words = command.split()
        line = pragma.span.start_line if pragma.span else "?"
        if command.startswith("braket result"):
            results.append(_result(command, registers, line))
        elif command.startswith("braket noise"):
            noise = words[2].split("(")[0] if len(words) > 2 else ""
            operations.add(noise)
        elif command.startswith("braket unitary"):
            operations.add("unitary")
        elif command != "braket verbatim":
            raise ProgramProblem(f"line {line}: pragma '#pragma {command}' is not supported")
        physical.update(_PHYSICAL.findall(command))
    count = None if declared is None else declared + len(physical)
    return ProgramFacts(
        qubit_count=count,
        operations=frozenset(operations),
        modifiers=frozenset(modifiers),
        inputs=tuple(inputs),
        results=tuple(results),
    )


def _result(command: str, registers: dict[str, tuple[int, ...]], line: object) -> ResultFact:
    words = command.split()
    kind = words[2].split("(")[0] if len(words) > 2 else ""
    name = _RESULT_NAMES.get(kind)
    if name is None:
        raise ProgramProblem(f"line {line}: result type {kind!r} is not a Braket result type")
    if name == "AdjointGradient":
        return ResultFact(name)
    parsed = _parse_result_pragma(command, registers, line)
    return ResultFact(name, _observable_names(parsed))


def _parse_result_pragma(command: str, registers: dict[str, tuple[int, ...]], line: object) -> Any:
    """The jaqcd result model of a result pragma, or None when its qubits cannot be resolved
    statically (aliases and the like: the interpreter checks those when the task runs)."""
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from braket.default_simulator.openqasm.parser.braket_pragmas import BraketPragmaNodeVisitor
    from braket.default_simulator.openqasm.parser.generated.BraketPragmasLexer import (
        BraketPragmasLexer,
    )
    from braket.default_simulator.openqasm.parser.generated.BraketPragmasParser import (
        BraketPragmasParser,
    )
    from braket.default_simulator.openqasm.program_context import QubitTable

    errors: list[str] = []

    class _Collect(ErrorListener):  # type: ignore[misc]
        def syntaxError(
            self, recognizer: Any, offending: Any, at: int, column: int, msg: str, e: Any
        ) -> None:
            errors.append(msg)

    lexer = BraketPragmasLexer(InputStream(command))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Collect())
    parser = BraketPragmasParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Collect())
    tree = parser.braketPragma()
    if errors:
        raise ProgramProblem(f"line {line}: invalid pragma '#pragma {command}': {errors[0]}")
    table = QubitTable()
    for register, qubits in registers.items():
        table[register] = qubits
    try:
        return BraketPragmaNodeVisitor(table).visit(tree)
    except (KeyError, IndexError):
        return None
    except Exception as error:
        raise ProgramProblem(f"line {line}: invalid pragma '#pragma {command}': {error}") from None


def _observable_names(result: Any) -> tuple[str, ...]:
    observable = getattr(result, "observable", None) or []
    return tuple(factor if isinstance(factor, str) else "hermitian" for factor in observable)


def jaqcd_facts(program: Any) -> ProgramFacts:
    """The facts of a parsed JAQCD program (``braket.ir.jaqcd.Program``)."""
    qubits: set[int] = set()
    operations: set[str] = set()
    for instruction in program.instructions:
        operations.add(str(getattr(instruction.type, "value", instruction.type)))
        qubits.update(_jaqcd_qubits(instruction))
    results = []
    for result in program.results or []:
        qubits.update(_jaqcd_qubits(result))
        results.append(ResultFact(type(result).__name__, _observable_names(result)))
    return ProgramFacts(
        qubit_count=len(qubits),
        operations=frozenset(operations),
        modifiers=frozenset(),
        inputs=(),
        results=tuple(results),
    )


def _jaqcd_qubits(item: Any) -> set[int]:
    found: set[int] = set()
    for key in ("target", "control"):
        value = getattr(item, key, None)
        if isinstance(value, int):
            found.add(value)
    for key in ("targets", "controls"):
        found.update(getattr(item, key, None) or [])
    return found
