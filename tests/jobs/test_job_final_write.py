"""A job whose final write fails (the database briefly refuses it) is not left RUNNING:
the finisher tries again, and after that the scheduler finds the job it owns with no
supervisor and watches it again until the write goes through (issue 12)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url
from support.postgres import create_schema

from jobs.conftest import ServerPool, describe, event_types

# Every write that would make a job COMPLETED fails while the sequence is below the budget:
# more failures than the finisher's own retries (5 + 1), so the orphan check must act.
FAULT = """
CREATE SEQUENCE completion_faults;
CREATE FUNCTION refuse_completion() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 'COMPLETED' AND nextval('completion_faults') <= 9 THEN
        RAISE EXCEPTION 'injected: the database refuses this write';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_completion BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION refuse_completion();
"""

SCRIPT = """
import json, os, pathlib
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text('{"ok": 1}')
"""


def _libpq(url: str) -> str:
    parsed = make_url(url)
    options = parsed.query.get("options", "")
    return (
        f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} "
        f"dbname={parsed.database} options='{options}'"
    )


@pytest.fixture
def faulty_database(pg_url: str) -> str:
    url = create_schema(pg_url)
    return url


def test_a_failed_final_write_is_retried_until_the_job_ends(
    servers: ServerPool, faulty_database: str
) -> None:
    kit = servers.start(
        env={"HYBRIDJOBS_DB_URL": faulty_database, "HYBRIDJOBS_HEARTBEAT_TIMEOUT_SECONDS": "4"}
    )
    with psycopg.connect(_libpq(faulty_database), autocommit=True) as connection:
        connection.execute(FAULT)

    job = kit.wait(kit.create(SCRIPT), timeout=90)

    assert job["status"] == "COMPLETED", describe(job)
    assert event_types(job).count("COMPLETED") == 1
    assert kit.results_json(job) == {"ok": 1}
    log = (kit.data_dir / "server.log").read_text()
    assert "no supervisor left; re-attaching" in log
