"""Compiled plans for the common variational subset of OpenQASM 3.

A variational loop sends one program text many times with new ``inputs``. For programs
made only of qubit/bit declarations, ``input float|angle`` declarations, modifier-free
Braket gates on single qubits (``q[i]`` or ``$k``) whose arguments are arithmetic
(``+ - * / **``, unary ``-``) over literals, inputs and the built-in constants, measurements
after the last gate, barriers and ``#pragma braket result|unitary`` (and ``noise`` where
allowed), the program is interpreted once to a *plan*: the template circuit's results,
qubits and classical registers, plus per gate a closure computing its angles from the
inputs. Each run then builds fresh gate operations and a fresh circuit and hands the
simulator a ready :class:`ProgramContext`, skipping the interpreter; the simulator's own
``run_openqasm`` still validates, evolves and builds the results.

Angles are computed with the interpreter's own literal arithmetic
(``evaluate_binary_expression`` and friends, ``cast_to`` for inputs), so every gate gets
exactly the parameters the interpreter would give it. Programs outside the subset get
``None`` and take the cached-AST path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from braket.default_simulator.gate_operations import BRAKET_GATES
from braket.default_simulator.openqasm._helpers.casting import cast_to, wrap_value_into_literal
from braket.default_simulator.openqasm._helpers.functions import (
    builtin_constants,
    evaluate_binary_expression,
    evaluate_unary_expression,
)
from braket.default_simulator.openqasm.circuit import Circuit
from braket.default_simulator.openqasm.parser import openqasm_ast as ast
from braket.default_simulator.openqasm.program_context import ProgramContext
from sympy import Expr

from hybridjobs.engines.lru import LruCache
from hybridjobs.engines.programs import (
    CACHE_SOURCE_CHARS,
    ProgramSyntaxError,
    interpret,
    parsed_program,
)

PLAN_CACHE_SIZE = 256

Literal = Any
"""An interpreter literal node (IntegerLiteral, FloatLiteral, SymbolLiteral, ...)."""
Angle = Callable[[dict[str, Literal]], Literal]

_ARITHMETIC = frozenset(getattr(ast.BinaryOperator, op) for op in ("+", "-", "*", "/", "**"))
_NEGATE = getattr(ast.UnaryOperator, "-")
_EXCLUDED_GATES = frozenset({"unitary", "gphase"})


@dataclass(frozen=True)
class _Gate:
    factory: Any
    target: tuple[int, ...]
    angles: tuple[Angle, ...]


@dataclass(frozen=True)
class _Fixed:
    instruction: Any


@dataclass(frozen=True)
class CompiledPlan:
    """A program compiled against its template run; see the module docstring."""

    inputs: tuple[tuple[str, Any], ...]
    steps: tuple[_Gate | _Fixed, ...]
    template: Any

    def build_context(self, simulator: Any, inputs: dict[str, Any] | None) -> Any | None:
        """A fresh ProgramContext for ``inputs``, or None when the interpreter must run
        (missing or unusual inputs, arithmetic errors: it reports them its own way)."""
        given = inputs or {}
        env: dict[str, Literal] = {}
        try:
            for name, declared in self.inputs:
                value = given.get(name)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return None
                env[name] = cast_to(declared, wrap_value_into_literal(value))
            instructions = [_instruction(step, env) for step in self.steps]
        except Exception:  # the fallback path raises the interpreter's own error
            return None
        template = self.template
        circuit = Circuit()
        circuit.instructions = instructions
        circuit.qubit_set = set(template.qubit_set)
        # Registers are only written while interpreting; the run path reads them.
        circuit.classical_registers = template.classical_registers
        circuit._anonymous_register = template._anonymous_register
        circuit.results = [result.copy() for result in template.results]
        return ProgramContext(circuit, simulator=simulator)


def _instruction(step: _Gate | _Fixed, env: dict[str, Literal]) -> Any:
    if isinstance(step, _Fixed):
        return copy.copy(step.instruction)  # the simulator remaps targets in place
    params = np.array([_parameter(angle(env).value) for angle in step.angles])
    return step.factory(step.target, *params, ctrl_modifiers=[], power=1)


def _parameter(value: Any) -> Any:
    """``ProgramContext.handle_parameter_value``."""
    return value.evalf() if isinstance(value, Expr) else value


_plans: LruCache[tuple[str, bool], CompiledPlan | None] = LruCache(
    PLAN_CACHE_SIZE, CACHE_SOURCE_CHARS
)


def compiled_context(simulator: Any, program: Any, *, noise: bool) -> Any | None:
    """A ready ProgramContext for ``program`` (an OpenQASM Program) when it is in the
    compiled subset, else None. ``noise`` allows noise pragmas (density-matrix only)."""
    key = (program.source, noise)
    known, plan = _plans.get(key)
    if not known:
        outcome = _compile(simulator, program, noise)
        if outcome is _RETRY:
            return None
        plan = outcome
        _plans.put(key, plan, len(program.source))
    return None if plan is None else plan.build_context(simulator, program.inputs)


def clear_plans() -> None:
    """Forget every compiled plan (tests and benchmarks use this)."""
    _plans.clear()


class _Undecided(Enum):
    """What _compile returns when this run cannot decide (missing inputs, interpreter
    error): nothing is cached and the run takes the interpreter's path."""

    RETRY = "retry"


_RETRY = _Undecided.RETRY


def _compile(simulator: Any, program: Any, noise: bool) -> CompiledPlan | _Undecided | None:
    try:
        parsed = parsed_program(program.source)
    except ProgramSyntaxError:
        return _RETRY
    if parsed.includes or not parsed.shareable:
        return None
    try:
        shape = _analyse(parsed.ast.statements, noise)
    except Exception:  # e.g. a constant division by zero: the interpreter reports it
        return None
    if shape is None:
        return None
    declared, steps = shape
    given = program.inputs or {}
    if any(name not in given for name, _ in declared):
        return _RETRY
    try:
        context = interpret(simulator.create_program_context(), program.source, given)
        template = context.circuit
        branched = context.is_branched
    except Exception:
        return _RETRY
    if branched or len(template.instructions) != len(steps):
        return None
    resolved: list[_Gate | _Fixed] = []
    for step, instruction in zip(steps, template.instructions, strict=True):
        if isinstance(step, _Fixed):
            resolved.append(_Fixed(instruction))
            continue
        factory, angles = step
        if type(instruction) is not factory or instruction._ctrl_modifiers:
            return None
        resolved.append(_Gate(factory, tuple(instruction.targets), angles))
    return CompiledPlan(tuple(declared), tuple(resolved), template)


def _analyse(statements: list[Any], noise: bool) -> tuple[list[tuple[str, Any]], list[Any]] | None:
    """The declared inputs and one step per instruction-producing statement (a gate's
    ``(factory, angles)`` or a placeholder ``_Fixed``), or None outside the subset."""
    declared: list[tuple[str, Any]] = []
    names: set[str] = set()
    steps: list[Any] = []
    measured = False
    for statement in statements:
        match statement:
            case ast.QubitDeclaration(size=None | ast.IntegerLiteral()):
                pass
            case ast.ClassicalDeclaration(type=ast.BitType(), init_expression=None):
                pass
            case ast.IODeclaration(
                io_identifier=ast.IOKeyword.input,
                type=ast.FloatType(size=None) | ast.AngleType(size=None),
            ):
                name = statement.identifier.name
                if name in names:
                    return None
                names.add(name)
                declared.append((name, statement.type))
            case ast.QuantumGate():
                gate = None if measured else _gate(statement, names)
                if gate is None:
                    return None
                steps.append(gate)
            case ast.QuantumMeasurementStatement():
                if not _measurement(statement):
                    return None
                measured = True
            case ast.Pragma(command=command):
                if command.startswith("braket result "):
                    continue
                fixed = command.startswith("braket unitary") or (
                    noise and command.startswith("braket noise ")
                )
                if measured or not fixed:
                    return None
                steps.append(_Fixed(None))
            case ast.QuantumBarrier():
                pass
            case _:
                return None
    return declared, steps


def _gate(statement: Any, inputs: set[str]) -> tuple[Any, tuple[Angle, ...]] | None:
    name = statement.name.name
    factory = BRAKET_GATES.get(name)
    if factory is None or name in _EXCLUDED_GATES or statement.modifiers:
        return None
    if not all(_single_qubit(operand) for operand in statement.qubits):
        return None
    angles: list[Angle] = []
    for argument in statement.arguments:
        compiled = _expression(argument, inputs)
        if compiled is None:
            return None
        angles.append(compiled if callable(compiled) else _constant(compiled))
    return factory, tuple(angles)


def _constant(value: Literal) -> Angle:
    return lambda _env: value


def _single_qubit(operand: Any) -> bool:
    if isinstance(operand, ast.Identifier):
        return True  # `$k`, or a register the template run checks expands to one qubit
    return (
        isinstance(operand, ast.IndexedIdentifier)
        and len(operand.indices) == 1
        and isinstance(operand.indices[0], list)
        and len(operand.indices[0]) == 1
        and isinstance(operand.indices[0][0], ast.IntegerLiteral)
    )


def _measurement(statement: Any) -> bool:
    operands = [statement.measure.qubit]
    if statement.target is not None:
        operands.append(statement.target)
    return all(
        isinstance(operand, ast.Identifier) or _single_qubit(operand) for operand in operands
    )


def _expression(node: Any, inputs: set[str]) -> Literal | Angle | None:
    """A literal (folded constant), a closure of the inputs, or None (not in the subset).

    Mirrors ``Interpreter.visit``: built-in constants win over variables of the same name.
    """
    match node:
        case ast.IntegerLiteral() | ast.FloatLiteral():
            return node
        case ast.Identifier(name=name) if name in builtin_constants:
            return builtin_constants[name]
        case ast.Identifier(name=name) if name in inputs:
            return lambda env: env[name]
        case ast.UnaryExpression(op=op, expression=inner) if op == _NEGATE:
            operand = _expression(inner, inputs)
            if operand is None:
                return None
            if not callable(operand):
                return evaluate_unary_expression(operand, op)
            return lambda env: evaluate_unary_expression(operand(env), op)
        case ast.BinaryExpression(op=op, lhs=lhs, rhs=rhs) if op in _ARITHMETIC:
            left, right = _expression(lhs, inputs), _expression(rhs, inputs)
            if left is None or right is None:
                return None
            return _binary(left, right, op)
    return None


def _binary(left: Literal | Angle, right: Literal | Angle, op: Any) -> Literal | Angle:
    if not callable(left) and not callable(right):
        return evaluate_binary_expression(left, right, op)
    lhs: Angle = left if callable(left) else (lambda _env: left)
    rhs: Angle = right if callable(right) else (lambda _env: right)
    return lambda env: evaluate_binary_expression(lhs(env), rhs(env), op)
