"""The web console: ``python -m benchmarks console [--jobs N] [--rounds N] [--pages N]``.

Three figures, each against a real ``hybridjobs serve`` and Debian's Chromium (Playwright):

1. **The jobs list with N jobs in the store** (default 10,000, written straight into the
   SQLite store before the service starts; no scheduler): time to first byte of
   ``GET /console/jobs`` (urllib, a fresh connection each round; the very first request
   also builds the console), and time until the browser shows a fully drawn list (25 rows
   rendered, ``load`` fired) — for the first page, a filtered page (name contains), a
   tag-filtered page (one job in 100 tagged), a page 40 pages deep (keyset token), and the
   list sorted by name (server-side), first page and 40 pages deep.
2. **Log latency**: a running job prints ``MARK <time.time()>`` lines; a page following
   its logs records when each line appears (a MutationObserver, the same clock); the
   difference per line. It includes the agent's batching (at most 4 PutLogEvents a second
   per stream) and the page's 0.5 s poll.
3. **Service CPU with P open job pages** (default 20) following a running job's live logs
   (a line every 0.1 s), each in its own browser context: the ``hybridjobs serve``
   process's CPU (its own, not the job's instances) over a window with the pages open,
   against the mean of a window before they open and one after they close, and how many console requests a second the pages made meanwhile.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Server,
    Stat,
    cpu_seconds,
    machine,
    ms,
    stat_row,
    table,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ACCOUNT = "000000000000"
REGION = "us-west-2"

MARK_SCRIPT = """
import time
for i in range({lines}):
    print("MARK", repr(time.time()), i, flush=True)
    time.sleep({gap})
"""

OBSERVE_LINES = """
window.__arrivals = [];
new MutationObserver((mutations) => {
  const now = Date.now() / 1000;
  for (const m of mutations) for (const node of m.addedNodes) {
    const text = node.dataset && node.dataset.m;
    if (text && text.startsWith("MARK ") && !node.dataset.seen) {
      node.dataset.seen = "1";
      window.__arrivals.push([parseFloat(text.split(" ")[1]), now]);
    }
  }
}).observe(document.getElementById("log"), { childList: true });
"""


def fill_store(data_dir: Path, count: int) -> float:
    """``count`` jobs (every 100th named ``needle-…`` and tagged ``team=needle``) written
    into the store; the seconds it took."""
    from hybridjobs.arns import new_job_arn
    from hybridjobs.jobs.model import Job, JobEvent, JobEventType, JobStatus
    from hybridjobs.store.sql import SqlJobStore

    started = time.monotonic()
    store = SqlJobStore(f"sqlite:///{data_dir / 'hybridjobs.db'}")
    base = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    statuses = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
    try:
        for n in range(count):
            arn = new_job_arn(REGION, ACCOUNT)
            name = f"needle-{n}" if n % 100 == 0 else f"bench-{n}"
            created = base + datetime.timedelta(seconds=n * 60)
            definition = {
                "jobName": name,
                "roleArn": "arn:aws:iam::123456789012:role/bench",
                "algorithmSpecification": {
                    "scriptModeConfig": {"entryPoint": "bench", "s3Uri": "s3://bench/src/b.py"}
                },
                "outputDataConfig": {"s3Path": "s3://bench/out"},
                "instanceConfig": {
                    "instanceType": "ml.m5.large",
                    "volumeSizeInGb": 30,
                    "instanceCount": 1,
                },
                "deviceConfig": {"device": "local:braket/default"},
                "stoppingCondition": {"maxRuntimeInSeconds": 3600},
            }
            job = Job(
                job_arn=str(arn),
                job_id=arn.job_id,
                account_id=ACCOUNT,
                region=REGION,
                job_name=name,
                status=JobStatus.QUEUED,
                device="local:braket/default",
                instance_type="ml.m5.large",
                instance_count=1,
                definition=definition,
                created_at=created,
            )
            tags = {"team": "needle"} if n % 100 == 0 else {}
            event = JobEvent(JobEventType.QUEUED_FOR_EXECUTION, created)
            store.create_job(job, event, tags, None)
            ended = created + datetime.timedelta(seconds=42)
            store.transition(
                job.job_arn,
                JobStatus.RUNNING,
                updates={"started_at": created + datetime.timedelta(seconds=2)},
            )
            store.transition(
                job.job_arn,
                statuses[n % 3],
                updates={"ended_at": ended, "billable_duration_ms": 40000},
            )
    finally:
        store.close()
    return time.monotonic() - started


def time_to_first_byte(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read(1)
        first = time.perf_counter() - started
        response.read()
    return first


def drawn(page: Any, url: str) -> float:
    """Seconds from navigation to a drawn list (its rows and pager rendered, ``load``
    fired: styles and scripts in)."""
    started = time.perf_counter()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#job-rows tr.pager", state="attached", timeout=60_000)
    return time.perf_counter() - started


def deeper(server: Server, url: str, depth: int) -> str:
    """The list page ``depth`` pages after ``url`` (following its "next" links)."""
    for _ in range(depth):
        html = urllib.request.urlopen(url, timeout=60).read().decode()
        link = html.split('rel="next" href="')[1].split('"')[0]
        url = server.url + link.replace("&amp;", "&")
    return url


def list_figures(workdir: Path, jobs: int, rounds: int, browser: Any) -> list[list[str]]:
    data_dir = workdir / "list"
    data_dir.mkdir()
    filled = fill_store(data_dir, jobs)
    print(f"wrote {jobs} jobs into the store in {filled:.1f} s", flush=True)
    server = Server("list", data_dir, {"HYBRIDJOBS_RUN_SCHEDULER": "false"})
    try:
        base = f"{server.url}/console/jobs"
        first = time_to_first_byte(base)
        ttfb = Stat()
        for _ in range(rounds):
            ttfb.add(time_to_first_byte(base))
        page = browser.new_page()
        depth = max(min(40, jobs // 25 - 2), 1)
        cases = {
            "first page": base,
            "name contains 'needle-'": f"{base}?name=needle-",
            "tag team=needle": f"{base}?tag=team%3Dneedle",
            f"page {depth + 1} (keyset token)": deeper(server, base, depth),
            "sorted by name": f"{base}?sort=name",
            f"sorted by name, page {depth + 1}": deeper(server, f"{base}?sort=name", depth),
        }
        stats = {label: Stat() for label in cases}
        for _ in range(rounds):
            for label, url in cases.items():
                stats[label].add(drawn(page, url))
        page.close()
    finally:
        server.stop()
    rows = [["time to first byte, first request (builds the console)", ms(first), "", "", "1"]]
    rows.append(stat_row(["time to first byte"], ttfb))
    rows += [stat_row([f"fully drawn list: {label}"], stat) for label, stat in stats.items()]
    return rows


def job_server(workdir: Path, name: str) -> Server:
    return Server(
        name,
        workdir / name,
        {
            "HYBRIDJOBS_WARM_POOL": "false",
            "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
            "HYBRIDJOBS_STOP_GRACE_SECONDS": "2",
        },
    )


def start_marking(server: Server, lines: int, gap: float) -> str:
    uri = server.put_script(MARK_SCRIPT.format(lines=lines, gap=gap))
    arn, _ = server.create(uri)
    deadline = time.monotonic() + 60
    while server.status_of(arn) != "RUNNING":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the job did not start:\n{server.log_tail()}")
        time.sleep(0.05)
    return arn


def job_page_url(server: Server, arn: str) -> str:
    return f"{server.url}/console/jobs/{REGION}/{arn.rsplit('/', 1)[-1]}"


def log_latency(workdir: Path, browser: Any, lines: int) -> Stat:
    server = job_server(workdir, "latency")
    try:
        arn = start_marking(server, lines + 5, 0.25)
        page = browser.new_page()
        page.goto(job_page_url(server, arn))
        page.evaluate(OBSERVE_LINES)
        page.wait_for_function(f"window.__arrivals.length >= {lines}", timeout=120_000)
        arrivals: list[list[float]] = page.evaluate("window.__arrivals")
        page.close()
        server.braket.cancel_job(jobArn=arn)
    finally:
        server.stop()
    latency = Stat()
    for printed, seen in arrivals[:lines]:
        latency.add(max(seen - printed, 0.0))
    return latency


COUNT_REQUESTS = "performance.getEntriesByType('resource').length"


def follow_cpu(
    workdir: Path, browser: Any, pages: int, window: float
) -> tuple[float, float, float]:
    """The service process's CPU share of one core without pages and with ``pages``, and
    the console requests per second the pages made meanwhile."""
    server = job_server(workdir, "follow")
    try:
        arn = start_marking(server, 100000, 0.1)
        time.sleep(5)  # let the job settle into its steady output

        def share() -> float:
            before = cpu_seconds(server.process.pid)
            time.sleep(window)
            return (cpu_seconds(server.process.pid) - before) / window

        idle_before = share()
        contexts = [browser.new_context() for _ in range(pages)]
        opened = [context.new_page() for context in contexts]
        for page in opened:
            page.evaluate("performance.setResourceTimingBufferSize(100000)")
            page.goto(job_page_url(server, arn))
            page.evaluate("performance.setResourceTimingBufferSize(100000)")
        for page in opened:
            page.wait_for_selector("#log .ln", timeout=60_000)
        counted = sum(page.evaluate(COUNT_REQUESTS) for page in opened)
        busy = share()
        rate = (sum(page.evaluate(COUNT_REQUESTS) for page in opened) - counted) / window
        for context in contexts:
            context.close()
        idle = (idle_before + share()) / 2
        server.braket.cancel_job(jobArn=arn)
    finally:
        server.stop()
    return idle, busy, rate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks console")
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=40, help="log lines timed")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--window", type=float, default=20.0, help="CPU window, seconds")
    parser.add_argument(
        "--list-only", action="store_true", help="only the jobs list figures (no jobs run)"
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="hj-bench-console-") as tmp, sync_playwright() as pw:
        workdir = Path(tmp)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            rows = list_figures(workdir, args.jobs, args.rounds, browser)
            if not args.list_only:
                latency = log_latency(workdir, browser, args.lines)
                idle, busy, rate = follow_cpu(workdir, browser, args.pages, args.window)
        finally:
            browser.close()
    header = ["figure", "median", "min", "max", "n"]
    if not args.list_only:
        rows.append(stat_row(["log line printed → shown in a following page"], latency))
    print(f"\n### The console with {args.jobs} jobs in the store\n")
    print(table(header, rows))
    if args.list_only:
        print("\nmachine: " + json.dumps(machine()))
        return 0
    print(f"\n### Service CPU with {args.pages} job pages following live logs\n")
    print(
        table(
            ["open job pages", "service CPU (share of one core)"],
            [["0", f"{idle * 100:.1f} %"], [str(args.pages), f"{busy * 100:.1f} %"]],
        )
    )
    print(f"\nper page: {(busy - idle) / max(args.pages, 1) * 100:.2f} % of a core")
    print(f"console requests the pages made: {rate:.1f} a second")
    print("\nmachine: " + json.dumps(machine()))
    return 0
