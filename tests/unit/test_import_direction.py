"""Imports point one way (design.md §4.3 and §8).

Every module under ``src/hybridjobs`` is parsed (not imported) and each of its imports
(top level, inside functions, and under ``TYPE_CHECKING`` alike: a type-only import is a
dependency too) is checked against the layers:

* transport (``api``, ``wire``, ``services``, ``console``, ``http``) may import anything
  below it, never an entry point (``cli``, ``server``, ``doctor``);
* the domain (``jobs``, ``tasks``, ``accounts``, ``usage``, ``devices``) owns the ports
  its adapters implement (``jobs/ports.py``, ``tasks/ports.py``,
  ``tasks/engineport.py``) and imports no
  transport, entry point, scheduler or adapter;
* adapters (``store``, ``objects``, ``engines``, ``runners``, ``sandbox``,
  ``environments``) and the instance side (``agent``) may import the domain and each
  other, never transport, an entry point or the scheduler.

Known exceptions are listed in :data:`ALLOWED`, each with its reason; an entry that no
longer matches any import fails the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hybridjobs"

ENTRY = frozenset({"cli", "server", "doctor"})
TRANSPORT = frozenset({"api", "wire", "services", "console", "http"})
DOMAIN = frozenset({"jobs", "tasks", "accounts", "usage", "devices"})
ADAPTERS = frozenset({"store", "objects", "engines", "runners", "sandbox", "environments"})
INSTANCE = frozenset({"agent"})
SCHEDULER = frozenset({"scheduler"})

FORBIDDEN: dict[frozenset[str], frozenset[str]] = {
    TRANSPORT: ENTRY,
    DOMAIN: ENTRY | TRANSPORT | SCHEDULER | ADAPTERS | INSTANCE,
    ADAPTERS: ENTRY | TRANSPORT | SCHEDULER,
    INSTANCE: ENTRY | TRANSPORT | SCHEDULER,
}
"""Layer of the importing package -> top-level packages it must not import."""

ALLOWED: dict[tuple[str, str], str] = {
    ("hybridjobs.usage.limits", "store"): (
        "spending limits read usage rows through store/sqlusage.py, whose row types and "
        "queries have no domain port yet"
    ),
    ("hybridjobs.usage.report", "store"): "UsageRow lives in store/sqlusage.py (no port yet)",
    ("hybridjobs.usage.budgets", "store"): "UsageRow lives in store/sqlusage.py (no port yet)",
    ("hybridjobs.usage.metrics", "store"): (
        "the usage metrics collector queries store/schema.py tables directly"
    ),
}
"""(importing module, imported top-level package) -> why it is tolerated for now."""


@dataclass(frozen=True)
class Edge:
    """One import of a ``hybridjobs`` package by a module, with where it is written."""

    module: str
    target: str
    line: int


def module_name(path: Path) -> str:
    """``src/hybridjobs/jobs/service.py`` -> ``hybridjobs.jobs.service``."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every absolute module name ``source`` imports (relative imports resolved against
    ``module``), with its line number."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name, node.lineno


def edges(source: str, module: str, is_package: bool = False) -> list[Edge]:
    """The imports of other top-level ``hybridjobs`` packages that ``source`` makes."""
    own = module.split(".")[1] if module.count(".") else ""
    found = []
    for name, line in imported_modules(source, module, is_package):
        parts = name.split(".")
        if parts[0] == "hybridjobs" and len(parts) > 1 and parts[1] != own:
            found.append(Edge(module, parts[1], line))
    return found


def violations(edge_list: list[Edge]) -> list[Edge]:
    """The edges that break a rule of :data:`FORBIDDEN` (allowed ones included)."""
    wrong = []
    for edge in edge_list:
        own = edge.module.split(".")[1]
        for layer, forbidden in FORBIDDEN.items():
            if own in layer and edge.target in forbidden:
                wrong.append(edge)
    return wrong


def all_edges() -> list[Edge]:
    """The cross-package imports of every module of the source tree."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = module_name(path)
        found.extend(edges(path.read_text(), name, path.name == "__init__.py"))
    return found


def test_imports_point_one_way() -> None:
    wrong = [e for e in violations(all_edges()) if (e.module, e.target) not in ALLOWED]
    assert not wrong, "wrong-way imports:\n" + "\n".join(
        f"  {e.module}:{e.line} imports hybridjobs.{e.target}" for e in wrong
    )


def test_every_exception_is_still_needed() -> None:
    used = {(e.module, e.target) for e in violations(all_edges())}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"remove these from ALLOWED, they no longer happen: {stale}"


def test_the_store_and_the_domain_do_not_import_each_other() -> None:
    found = all_edges()
    domain_to_store = [e for e in found if e.module.split(".")[1] in {"jobs", "tasks"}]
    assert not [e for e in domain_to_store if e.target == "store"]
    assert any(e.module.startswith("hybridjobs.store.") and e.target == "jobs" for e in found)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("hybridjobs.jobs.service", "from hybridjobs.store.sql import SqlStore\n"),
        ("hybridjobs.jobs.service", "def f():\n    import hybridjobs.wire.restjson\n"),
        ("hybridjobs.store.sql", "from hybridjobs.services import braket\n"),
        ("hybridjobs.runners.local", "from hybridjobs.scheduler.loop import Scheduler\n"),
        ("hybridjobs.wire.query", "from hybridjobs.cli import main\n"),
        ("hybridjobs.tasks.model", "from ..store import base\n"),
    ],
)
def test_a_wrong_way_import_is_caught(module: str, source: str) -> None:
    assert violations(edges(source, module)), source


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("hybridjobs.store.sql", "from hybridjobs.jobs.model import Job\n"),
        ("hybridjobs.services.braket", "from hybridjobs.jobs import service\n"),
        ("hybridjobs.jobs.service", "from hybridjobs.jobs.ports import JobStore\n"),
        ("hybridjobs.runners.local", "from hybridjobs.sandbox import bwrap\n"),
    ],
)
def test_a_right_way_import_passes(module: str, source: str) -> None:
    assert not violations(edges(source, module)), source
