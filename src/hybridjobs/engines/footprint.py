"""How much memory a task's simulation needs, estimated from its action without parsing.

Admission uses it to keep the sum of running tasks' state within the task memory budget:
a state vector of n qubits is 2**n complex128 amplitudes (16 bytes each), a density
matrix 4**n. The estimate reads qubit declarations (``qubit[n]``, ``qubit q``), the
distinct physical qubits (``$k``: a device's qubit labels need not start at 0) and JAQCD
targets; an analog program's filled sites. It never raises.
"""

from __future__ import annotations

import json
import re

_REGISTER = re.compile(r"\bqubit\s*\[\s*(\d+)\s*\]")
_SINGLE = re.compile(r"\bqubit\s+[A-Za-z_]\w*\s*;")
_PHYSICAL = re.compile(r"\$(\d+)")
_DENSITY_ENGINES = frozenset({"braket_dm", "emulator"})


def qubits_in(action: str) -> int:
    """The number of qubits ``action`` uses, as far as a cheap scan can tell."""
    try:
        document = json.loads(action)
    except ValueError:
        return 0
    if not isinstance(document, dict):
        return 0
    source = document.get("source")
    if isinstance(source, str):
        return _openqasm_qubits(source)
    programs = document.get("programs")
    if isinstance(programs, list):
        return max((_openqasm_qubits(str(p.get("source", ""))) for p in programs), default=0)
    targets = [
        q
        for instruction in document.get("instructions") or []
        for key in ("target", "targets", "control", "controls")
        for q in _as_list(instruction.get(key))
    ]
    return max(targets, default=-1) + 1


def _as_list(value: object) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int)]
    return []


def _openqasm_qubits(source: str) -> int:
    declared = sum(int(n) for n in _REGISTER.findall(source)) + len(_SINGLE.findall(source))
    physical = len(set(_PHYSICAL.findall(source)))
    return max(declared, physical)


def filled_sites(action: str) -> int:
    """How many atoms an analog (AHS) program places."""
    try:
        filling = json.loads(action)["setup"]["ahs_register"]["filling"]
    except (ValueError, KeyError, TypeError):
        return 0
    return sum(1 for site in filling if site == 1) if isinstance(filling, list) else 0


def memory_bytes(engine: str, action: str) -> int:
    """The bytes of simulator state a task on ``engine`` needs."""
    if engine == "braket_ahs":
        from hybridjobs.engines.ahs import simulation_bytes

        return simulation_bytes(filled_sites(action))
    qubits = qubits_in(action)
    base = 4 if engine in _DENSITY_ENGINES else 2
    return int(16 * base**qubits)
