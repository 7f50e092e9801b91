"""Every byte a job prints reaches its log before the job is reported finished, even tens
of MB written in its last second (issue 12)."""

from __future__ import annotations

from jobs.conftest import JobKit

CHATTY = """
import sys
out = sys.stdout
for i in range(200_000):
    out.write(f"line {i} of a chatty training loop\\n")
out.write("the result: 42")  # the last line, without a newline
"""


def test_a_burst_of_output_at_the_end_is_shipped_whole(jobs: JobKit) -> None:
    job = jobs.run_ok(CHATTY, timeout=120)

    lines = [
        e.message
        for e in jobs.store.list_log_events(job["jobArn"], "algo-1", limit=1_000_000)
        if e.message.startswith(("line ", "the result"))
    ]
    assert len(lines) == 200_001, lines[-3:]
    assert lines[0] == "line 0 of a chatty training loop"
    assert lines[-2] == "line 199999 of a chatty training loop"
    assert lines[-1] == "the result: 42"
