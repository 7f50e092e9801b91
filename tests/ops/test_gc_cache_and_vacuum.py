"""``hybridjobs gc`` removes cached requirements installs no job used for
``--requirements-days`` (never one a running job holds), and VACUUMs a SQLite database
that its deletions left mostly free."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from jobs.conftest import JobKit, ServerPool, wait_until
from support.cli import explain, hybridjobs
from warmpool.test_paths import _wheel

from hybridjobs.reqcache import MARKER, lock_path

SLEEPER = """
import time
import hjgcsleeper
print("sleeping with", hjgcsleeper.VALUE, flush=True)
time.sleep(300)
"""
USER = """
import hjgcdone
print("done with", hjgcdone.VALUE, flush=True)
"""
TINY_AGE = "0.00001"  # days: under a second
LONG_AGO = 60 * 86_400  # seconds: older than the default 30 days


def _with_requirements(module: str, script: str) -> dict[str, str | bytes]:
    wheel_name, wheel = _wheel(module, "1.0", {f"{module}/__init__.py": "VALUE = 1\n"})
    return {
        "job.py": script,
        "requirements.txt": f"--no-index\n./{wheel_name}\n",
        wheel_name: wheel,
    }


def _entries(kit: JobKit) -> dict[str, Path]:
    """The cache entries, by the module their wheel installed."""
    root = kit.data_dir / "cache" / "requirements"
    found: dict[str, Path] = {}
    for entry in root.glob("*/*"):
        if entry.is_dir() and not entry.name.startswith("."):
            found.update({child.name: entry for child in entry.glob("hjgc*") if child.is_dir()})
    return found


def _age(entry: Path) -> None:
    past = time.time() - LONG_AGO
    os.utime(entry / MARKER, (past, past))


def _gc(kit: JobKit, *args: str) -> str:
    done = hybridjobs("gc", "--data-dir", str(kit.data_dir), *args, endpoint=None)
    assert done.returncode == 0, explain(done)
    return str(done.stdout)


def test_gc_removes_unused_requirements_but_not_a_running_jobs(servers: ServerPool) -> None:
    kit = servers.start()
    running = kit.create(files=_with_requirements("hjgcsleeper", SLEEPER), entry_point="job")
    kit.run_ok(files=_with_requirements("hjgcdone", USER), entry_point="job", timeout=180)
    wait_until(lambda: any("sleeping" in line for line in kit.shipped_lines(running)), 120, "sleep")
    entries = _entries(kit)
    in_use, unused = entries["hjgcsleeper"], entries["hjgcdone"]
    _age(in_use)
    _age(unused)

    dry = _gc(kit, "--dry-run")
    assert f"would remove cached requirements {unused}" in dry, dry
    assert str(in_use) not in dry, dry
    assert "1 cached requirement installs" in dry, dry
    assert unused.exists() and in_use.exists()

    done = _gc(kit)
    assert f"removed cached requirements {unused}" in done, done
    assert not unused.exists() and not lock_path(unused).exists()
    assert (in_use / MARKER).exists(), "the running job's entry stays"

    kit.braket.cancel_job(jobArn=running)
    kit.wait(running, ["CANCELLED"])
    kit.assert_no_processes(running)
    kept = _gc(kit, "--requirements-days", "0")
    assert "0 cached requirement installs" in kept and in_use.exists(), kept
    gone = _gc(kit)
    assert f"removed cached requirements {in_use}" in gone, gone
    assert not in_use.exists() and not lock_path(in_use).exists()

    again = kit.run_ok(files=_with_requirements("hjgcdone", USER), entry_point="job", timeout=180)
    assert "done with 1" in kit.logs(again["jobArn"]), "a removed entry is installed again"


CHATTY = """
print("\\n".join(f"{i:08d} " + "x" * 120 for i in range(20_000)), flush=True)
"""


def _log_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM log_events").fetchone()[0])


def test_gc_vacuums_sqlite_after_deleting_many_rows(servers: ServerPool) -> None:
    kit = servers.start()
    arn = kit.create(CHATTY)
    kit.wait(arn, ["COMPLETED"])
    database = kit.data_dir / "hybridjobs.db"
    wait_until(lambda: _log_rows(database) >= 20_000, 60, "all lines shipped")
    assert kit.server.stop() == 0
    before = database.stat().st_size

    dry = _gc(kit, "--dry-run", "--logs-days", TINY_AGE)
    assert "vacuumed" not in dry and database.stat().st_size == before, dry
    done = _gc(kit, "--logs-days", TINY_AGE)
    assert "log lines of 1 jobs" in done, done
    assert "; vacuumed (" in done, done
    after = database.stat().st_size
    assert after < before - (1 << 20), (before, after)

    again = _gc(kit, "--logs-days", TINY_AGE)
    assert "vacuumed" not in again, "nothing freed, nothing vacuumed"
