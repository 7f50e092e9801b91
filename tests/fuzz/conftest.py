"""The fuzz suite's live server, its settings profiles, and the fingerprint of what the
server has stored.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (the default; about a minute in all) and ``big``
(local runs: ten times the examples). No example database is written."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support.server import API_TEST_SERVER_ENV, LiveServer, start_server

_COMMON = {
    "deadline": None,
    "database": None,
    "derandomize": False,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=12, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("big", max_examples=150, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

STATUSES: Counter[int] = Counter()
"""Every fuzzed answer's HTTP status (reported at the end of the run)."""
RAW_EXAMPLES = {"ci": 400, "big": 4000}[os.environ.get("HYPOTHESIS_PROFILE", "ci")]


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One API server (no scheduler) for the whole fuzz suite."""
    live = start_server(tmp_path_factory.mktemp("fuzz"), env=API_TEST_SERVER_ENV)
    try:
        yield live
    finally:
        code = live.stop()
        assert code == 0, live.log_tail()


Fingerprint = tuple[tuple[str, int], ...]


def stored(server: LiveServer) -> Fingerprint:
    """Rows per table of the server's database and files under its object directory."""
    database = server.data_dir / "hybridjobs.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        counts = [
            (table, int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]))
            for table in tables
        ]
    connection.close()
    return (*counts, ("object files", _files(server.data_dir / "objects")))


def _files(root: Path) -> int:
    """Every file under ``root``, the local store's lock files included (one per existing
    bucket: a rejected request must not leave one behind)."""
    if not root.exists():
        return 0
    return sum(len(files) for _, _, files in os.walk(root))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STATUSES:
        total = sum(STATUSES.values())
        terminalreporter.write_line(
            f"fuzz: {total} requests answered, by status: {dict(sorted(STATUSES.items()))}"
        )
