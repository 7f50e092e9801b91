"""Crash-and-restart torture: kill the service while jobs run, restart it, count what survived.

``python -m benchmarks torture [--jobs N] [--kills K] [--signal kill|term] [--capacity C]
[--window S] [--seed X] [--pg]``
starts a real ``hybridjobs serve`` (SQLite in its data directory, or a scratch PostgreSQL
database with ``--pg``), submits N jobs (default 75) that each print ``LINES`` numbered
lines over about ``LINES * PAUSE`` seconds, a ``Metrics - `` line every ``METRIC_EVERY``
lines, then kills the server K times (default once) at a random moment while jobs run —
SIGKILL (``kill``, a crash) or SIGTERM (``term``, a graceful stop, which by default
detaches: instances keep running) — restarting it on the same data directory and
database each time. Then it waits, polling the database read-only, until every job is
terminal (at most ``--timeout`` seconds; what is left is *stuck*), and counts:

* jobs COMPLETED / FAILED / CANCELLED / stuck;
* per job, its lines as GetLogEvents returns them (boto3 ``logs`` client against the
  service): missing, duplicated and out of order, against what the script printed;
* metric points stored per job (missing or doubled iterations);
* *orphans*: once every job is terminal, processes of the service other than the live
  server and its descendants (instances, zygotes or embryos of a killed server) still
  there ``ORPHAN_GRACE`` seconds later, and after the final stop, any such process at all
  (*leftovers*). The benchmark SIGKILLs both before it exits.

A process is the service's when its command line or working directory names the data
directory, or when its environment holds the ``AMZN_BRAKET_JOB_TOKEN`` of one of the
run's jobs (read from the database): a sandboxed instance's ``bwrap`` PID 1 and its
Python run under ``/opt/ml`` in their own mount namespace, so only the outer ``bwrap``
names the data directory (a warm start sandboxed in place: none of them does).

Right after each kill the benchmark lists every such process (state, parent, working
directory, cgroup, job, command line), counts those without a job token, and says whether
they were still there once the restarted server was healthy and when they were seen gone.
With SIGKILL these are the running instances (three processes each when sandboxed:
``bwrap``, its PID 1, ``hybridjobs.bootstrap``; they are re-attached) plus, in the runs of
2026-12-02 before the fix, one warm-pool zygote (state R, parent 1, no job) that the
killed server had just started to refill the pool and that was still importing its
preload list: it noticed the server's death only when it first read its channel, 5-7 s
after the kill (the "one extra process right after a kill"). A zygote now watches its
channel while it preloads and exits at once (``runners/zygote.py``). With SIGTERM the server stops its zygotes itself.

The kill moment: after the first (or each restarted) server has at least one RUNNING job,
a random delay in ``[0, --window)`` seconds (seeded with ``--seed``); a kill is skipped once
every job has ended. ``--capacity C`` sizes the service for C ml.m5.large jobs at once
(default: the service's own capacity, five on a 2-core machine; the rest queue). Exit status 1 when
any job is stuck or lost a line, or a process was left over.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.harness import REGION, TERMINAL, Server, load_note

LINES = 40
PAUSE = 0.1
METRIC_EVERY = 5
POLL_SECONDS = 0.5
ORPHAN_GRACE = 10.0
"""Seconds a process outside the live server may take to exit before it counts as an orphan."""

SCRIPT = f"""
import os, time
tag = os.environ.get("AMZN_BRAKET_JOB_NAME", "?")
for i in range({LINES}):
    print(f"torture {{tag}} line {{i}}", flush=True)
    if i % {METRIC_EVERY} == 0:
        print(f"Metrics - timestamp={{time.time()}}; loss={{1.0 / (i + 1)}}; "
              f"iteration_number={{i}};", flush=True)
    time.sleep({PAUSE})
"""
"""The job: numbered lines (its own name in each), a metric every ``METRIC_EVERY``."""


def expected_lines(job_name: str) -> list[str]:
    """The lines SCRIPT prints, in order, without the metric lines' timestamps (see
    ``_normal``)."""
    lines = []
    for i in range(LINES):
        lines.append(f"torture {job_name} line {i}")
        if i % METRIC_EVERY == 0:
            lines.append(f"Metrics - loss iteration_number={i}")
    return lines


def _normal(message: str) -> str | None:
    """A shipped line in the form of ``expected_lines``; None for lines SCRIPT did not print."""
    if message.startswith("torture "):
        return message
    marker = message.find("Metrics - ")
    if marker >= 0 and "iteration_number=" in message:
        iteration = message.rsplit("iteration_number=", 1)[1].rstrip("; ")
        return f"Metrics - loss iteration_number={iteration}"
    return None


@dataclass
class LineCounts:
    """What GetLogEvents returned for the jobs, against what they printed."""

    expected: int = 0
    shipped: int = 0
    missing: int = 0
    duplicated: int = 0
    out_of_order_jobs: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, name: str, got: list[str]) -> None:
        want = expected_lines(name)
        self.expected += len(want)
        self.shipped += len(got)
        counts = Counter(got)
        lost = [line for line in want if counts[line] == 0]
        doubled = sum(n - 1 for n in counts.values() if n > 1)
        self.missing += len(lost)
        self.duplicated += doubled
        firsts = list(dict.fromkeys(got))
        order = {line: index for index, line in enumerate(want)}
        if [order[x] for x in firsts if x in order] != sorted(
            order[x] for x in firsts if x in order
        ):
            self.out_of_order_jobs += 1
            self.examples.append(f"{name}: out of order")
        if lost and len(self.examples) < 10:
            self.examples.append(f"{name}: missing {lost[:3]} ({len(lost)})")
        if doubled and len(self.examples) < 10:
            twice = [line for line, n in counts.items() if n > 1]
            self.examples.append(f"{name}: doubled {twice[:3]} ({doubled})")


# -- the database (read-only polling) -----------------------------------------------------


class Database:
    """The service's database, read with SQLAlchemy (SQLite read-only, or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def statuses(self, arns: list[str]) -> dict[str, str]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT job_arn, status FROM jobs"))
            found = {str(arn): str(status) for arn, status in rows}
        return {arn: found.get(arn, "MISSING") for arn in arns}

    def job_tokens(self) -> frozenset[str]:
        """Every job's ``job_token`` (its instances' ``AMZN_BRAKET_JOB_TOKEN``)."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT job_token FROM jobs"))
            return frozenset(str(token) for (token,) in rows if token)

    def metric_iterations(self) -> dict[str, list[int]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT job_arn, iteration_number FROM metrics WHERE name = 'loss'")
            )
            found: dict[str, list[int]] = {}
            for arn, iteration in rows:
                found.setdefault(str(arn), []).append(int(iteration))
        return found

    def close(self) -> None:
        self.engine.dispose()


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///file:{data_dir / 'hybridjobs.db'}?mode=ro&uri=true"


@contextlib.contextmanager
def database_url(pg: bool) -> Iterator[str | None]:
    """A scratch PostgreSQL database's URL (``pg``) or None (SQLite in the data dir)."""
    if not pg:
        yield None
        return
    from benchmarks.ray_runner import postgres_reachable, scratch_database

    missing = postgres_reachable()
    if missing is not None:
        raise SystemExit(f"--pg: {missing}")
    with scratch_database() as url:
        yield url


# -- processes ----------------------------------------------------------------------------


def processes_naming(data_dir: Path, tokens: frozenset[str] = frozenset()) -> dict[int, int]:
    """{pid: parent pid} of live processes (not this one) of the service on ``data_dir``:
    those whose command line or working directory names ``data_dir``, and those whose
    environment holds one of ``tokens`` as ``AMZN_BRAKET_JOB_TOKEN`` (every process of
    an instance of those jobs: a sandboxed instance runs under ``/opt/ml`` in its own
    mount namespace, so neither its command line nor its working directory names the data
    directory, but its environment — which a fork or ``exec`` inherits — holds its job's
    token)."""
    root = str(data_dir.resolve())
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        cwd = ""
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd")
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        if root in command or cwd.startswith(root) or _job_token(entry.name) in tokens:
            found[int(entry.name)] = int(fields[1])
    return found


def _environment(pid: str) -> dict[str, str]:
    """``pid``'s environment as it was exec'd (``{}`` when unreadable: another user's)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split("=", 1) for item in raw.decode(errors="replace").split("\0"))
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def _job_token(pid: str) -> str:
    """The ``AMZN_BRAKET_JOB_TOKEN`` in ``pid``'s environment (``""``: none)."""
    return _environment(pid).get("AMZN_BRAKET_JOB_TOKEN", "")


def descendants(root: int) -> set[int]:
    """``root`` and every live process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _describe(pid: int) -> str:
    """``pid``'s state, parent pid, working directory, cgroup (its unified or ``pids``
    hierarchy's path), job (``AMZN_BRAKET_JOB_NAME`` in its environment) and command line
    (first 200 characters)."""
    entry = Path(f"/proc/{pid}")
    try:
        command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = (entry / "stat").read_text()
        cgroups = (entry / "cgroup").read_text().splitlines()
        cwd = os.readlink(entry / "cwd")
    except OSError:
        return f"pid {pid}: gone"
    state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
    cgroup = next((line.split(":", 2)[2] for line in cgroups if ":pids:" in line), "")
    cgroup = cgroup or next((line[3:] for line in cgroups if line.startswith("0::")), "?")
    job = _environment(str(pid)).get("AMZN_BRAKET_JOB_NAME", "-")
    return (
        f"pid {pid} ({state}, parent {parent}, cwd {cwd}, cgroup {cgroup}, job {job}): "
        f"{command[:200]}"
    )


def _start_time(pid: int) -> int | None:
    """``pid``'s start time in clock ticks (tells a process from a later one with its pid);
    ``None`` when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# -- the run ------------------------------------------------------------------------------


@dataclass
class Options:
    jobs: int
    kills: int
    signal_name: str
    window: float
    timeout: float
    seed: int
    capacity: int | None


def _job_request(server: Server, uri: str, index: int) -> dict[str, Any]:
    return {
        "jobName": f"torture-{index:03d}",
        "roleArn": "arn:aws:iam::123456789012:role/torture",
        "algorithmSpecification": {"scriptModeConfig": {"entryPoint": "torture", "s3Uri": uri}},
        "outputDataConfig": {"s3Path": f"s3://bench/out/torture-{index:03d}"},
        "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
        "deviceConfig": {"device": "local:braket/default"},
    }


def _stop(server: Server, how: signal.Signals) -> float:
    """Send ``how`` to the server process alone; seconds until it exited."""
    began = time.monotonic()
    server.process.send_signal(how)
    server.process.wait(timeout=120)
    return time.monotonic() - began


def run(options: Options, workdir: Path, db_url: str | None) -> tuple[dict[str, Any], bool]:
    """One torture run; (figures, whether anything was lost, stuck or left over)."""
    rng = random.Random(options.seed)
    data_dir = workdir / "data"
    env = {"HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2"}
    if db_url is not None:
        env["HYBRIDJOBS_DB_URL"] = db_url
    if options.capacity is not None:  # an ml.m5.large is 2 vCPUs and 8 GiB
        env["HYBRIDJOBS_CAPACITY_VCPUS"] = str(2 * options.capacity)
        env["HYBRIDJOBS_CAPACITY_MEMORY_GIB"] = str(8 * options.capacity)
    how = signal.SIGKILL if options.signal_name == "kill" else signal.SIGTERM
    database = Database(db_url or sqlite_url(data_dir))
    tokens: frozenset[str] = frozenset()
    server = Server("torture-0", data_dir, env, log_name="server-0.log")
    figures: dict[str, Any] = {
        "kills": [],
        "running at kill": [],
        "survivors": [],
        "survivor commands": [],
        "jobless survivors": [],
        "jobless after restart": [],
        "jobless gone s": [],
        "restart s": [],
    }
    try:
        uri = server.put_script(SCRIPT, module="torture")
        arns = [
            server.braket.create_job(**_job_request(server, uri, i))["jobArn"]
            for i in range(options.jobs)
        ]
        tokens = database.job_tokens()
        for round_ in range(options.kills):
            statuses = _wait_for(database, arns, _running_or_done, 300)
            if all(s in TERMINAL for s in statuses.values()):
                break
            time.sleep(rng.uniform(0, options.window))  # a random moment, on purpose
            running = sum(1 for s in database.statuses(arns).values() if s == "RUNNING")
            figures["running at kill"].append(running)
            figures["kills"].append(round(_stop(server, how), 2))
            survivors = processes_naming(data_dir, database.job_tokens())
            figures["survivors"].append(len(survivors))
            figures["survivor commands"].append([_describe(pid) for pid in sorted(survivors)])
            killed = time.monotonic()
            jobless = {pid: _start_time(pid) for pid in survivors if not _job_token(str(pid))}
            figures["jobless survivors"].append(len(jobless))
            began = time.monotonic()
            server = Server(
                f"torture-{round_ + 1}", data_dir, env, log_name=f"server-{round_ + 1}.log"
            )
            figures["restart s"].append(round(time.monotonic() - began, 2))
            lingering = [p for p, t in jobless.items() if t is not None and _start_time(p) == t]
            figures["jobless after restart"].append(len(lingering))
            while lingering and time.monotonic() - killed < ORPHAN_GRACE:
                time.sleep(POLL_SECONDS / 5)
                lingering = [p for p in lingering if _start_time(p) == jobless[p]]
            figures["jobless gone s"].append(
                round(time.monotonic() - killed, 1) if not lingering else None
            )
        began = time.monotonic()
        statuses = _wait_for(
            database,
            arns,
            lambda s: all(v in TERMINAL for v in s.values()),
            options.timeout,
        )
        figures["drain s"] = round(time.monotonic() - began, 1)
        tally = Counter(statuses.values())
        figures["COMPLETED"] = tally.get("COMPLETED", 0)
        figures["FAILED"] = tally.get("FAILED", 0)
        figures["CANCELLED"] = tally.get("CANCELLED", 0)
        figures["stuck"] = sum(n for s, n in tally.items() if s not in TERMINAL)
        figures["failure reasons"] = _failures(server, statuses)
        lines = _count_lines(server, arns)
        figures["lines"] = lines
        iterations = database.metric_iterations()
        want = len(range(0, LINES, METRIC_EVERY))
        figures["metric points"] = sum(len(v) for v in iterations.values())
        figures["metric points expected"] = want * options.jobs
        figures["metric points doubled"] = sum(len(v) - len(set(v)) for v in iterations.values())
        live = descendants(server.process.pid)
        tokens = database.job_tokens()
        orphans = {p for p in processes_naming(data_dir, tokens) if p not in live}
        figures["orphan commands"] = [_describe(pid) for pid in sorted(orphans)]
        deadline = time.monotonic() + ORPHAN_GRACE
        while orphans and time.monotonic() < deadline:  # one still exiting is not an orphan
            time.sleep(POLL_SECONDS)
            orphans = {p for p in processes_naming(data_dir, tokens) if p not in live}
        figures["orphans"] = len(orphans)
        kill_all(orphans)
    finally:
        server.stop()
        database.close()
    left = set(processes_naming(data_dir, tokens))
    figures["leftovers"] = len(left)
    kill_all(left)
    bad = bool(
        figures.get("stuck", 1)
        or figures["lines"].missing
        or figures["lines"].duplicated
        or figures["lines"].out_of_order_jobs
        or figures.get("orphans", 1)
        or left
    )
    return figures, bad


def _wait_for(database: Database, arns: list[str], done: Any, timeout: float) -> dict[str, str]:
    """Poll the database every POLL_SECONDS until ``done(statuses)`` or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = database.statuses(arns)
        if done(statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(POLL_SECONDS)


def _running_or_done(statuses: dict[str, str]) -> bool:
    """Some job RUNNING (a moment to kill), or every job terminal (none left to kill)."""
    values = statuses.values()
    return "RUNNING" in values or all(v in TERMINAL for v in values)


def _failures(server: Server, statuses: dict[str, str]) -> dict[str, int]:
    reasons: Counter[str] = Counter()
    for arn, status in statuses.items():
        if status == "FAILED":
            reason = str(server.braket.get_job(jobArn=arn).get("failureReason", ""))
            reasons[reason[:120]] += 1
    return dict(reasons)


def _count_lines(server: Server, arns: list[str]) -> LineCounts:
    """Every job's algo-1 stream read through DescribeLogStreams and GetLogEvents."""
    import boto3

    logs = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=REGION
    ).client("logs", endpoint_url=server.url)
    counts = LineCounts()
    for index in range(len(arns)):
        name = f"torture-{index:03d}"
        streams = logs.describe_log_streams(
            logGroupName="/aws/braket/jobs", logStreamNamePrefix=f"{name}/"
        )["logStreams"]
        got: list[str] = []
        for stream in streams:
            token: str | None = None
            while True:
                page = logs.get_log_events(
                    logGroupName="/aws/braket/jobs",
                    logStreamName=stream["logStreamName"],
                    startFromHead=True,
                    **({"nextToken": token} if token else {}),
                )
                got += [n for e in page["events"] if (n := _normal(e["message"])) is not None]
                if not page["events"] or page["nextForwardToken"] == token:
                    break
                token = page["nextForwardToken"]
        counts.add(name, got)
    return counts


def report(options: Options, figures: dict[str, Any], backend: str, load: str) -> str:
    lines: LineCounts = figures["lines"]
    command = f"python -m benchmarks torture --jobs {options.jobs} --kills {options.kills}"
    command += f" --signal {options.signal_name} --seed {options.seed}"
    command += f" --window {options.window:g}"
    command += f" --capacity {options.capacity}" if options.capacity is not None else ""
    command += " --pg" if backend == "PostgreSQL" else ""
    rows = [
        ("database", backend),
        (
            "signal, times",
            f"{'SIGKILL' if options.signal_name == 'kill' else 'SIGTERM'} x{len(figures['kills'])}",
        ),
        ("jobs RUNNING at each kill", ", ".join(map(str, figures["running at kill"]))),
        ("server exit after the signal (s)", ", ".join(map(str, figures["kills"]))),
        (
            "processes naming the data dir with the server down",
            ", ".join(map(str, figures["survivors"])),
        ),
        (
            "of which no instance's (no job token) / still there once restarted",
            ", ".join(
                f"{a} / {b}"
                for a, b in zip(
                    figures["jobless survivors"], figures["jobless after restart"], strict=True
                )
            ),
        ),
        (
            "those gone after the signal (s; -: none; >10: not)",
            ", ".join(
                "-" if not n else (f">{ORPHAN_GRACE:g}" if s is None else str(s))
                for n, s in zip(
                    figures["jobless survivors"], figures["jobless gone s"], strict=True
                )
            ),
        ),
        ("restart until healthy (s)", ", ".join(map(str, figures["restart s"]))),
        ("jobs", str(options.jobs)),
        (
            "COMPLETED / FAILED / CANCELLED / stuck",
            f"{figures['COMPLETED']} / {figures['FAILED']} / {figures['CANCELLED']} / "
            f"{figures['stuck']}",
        ),
        ("drain after the last restart (s)", str(figures["drain s"])),
        ("lines expected / shipped", f"{lines.expected} / {lines.shipped}"),
        ("lines missing / duplicated", f"{lines.missing} / {lines.duplicated}"),
        ("jobs with lines out of order", str(lines.out_of_order_jobs)),
        (
            "metric points stored / expected / doubled",
            f"{figures['metric points']} / {figures['metric points expected']} / "
            f"{figures['metric points doubled']}",
        ),
        (
            "processes outside the live server (jobs all terminal) / still there 10 s later",
            f"{len(figures['orphan commands'])} / {figures['orphans']}",
        ),
        ("leftover processes (after the final stop)", str(figures["leftovers"])),
    ]
    out = [f"`{command}`", "", "| | |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    for reason, n in figures["failure reasons"].items():
        out.append(f"\nFAILED x{n}: {reason}")
    for kill, described_all in enumerate(figures["survivor commands"], start=1):
        for described in described_all:
            out.append(f"\nwith the server down (kill {kill}): {described}")
    for described in figures["orphan commands"]:
        out.append(f"\noutside the live server: {described}")
    for example in lines.examples:
        out.append(f"\n{example}")
    out.append(f"\n{load}")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks torture")
    parser.add_argument("--jobs", type=int, default=75)
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--signal", dest="signal_name", choices=("kill", "term"), default="kill")
    parser.add_argument("--window", type=float, default=3.0, help="kill within this many s")
    parser.add_argument("--timeout", type=float, default=900.0, help="then a job is stuck")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--capacity", type=int, default=None, help="jobs at once (default: the service's)"
    )
    parser.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432")
    args = parser.parse_args(argv)
    options = Options(
        args.jobs,
        args.kills,
        args.signal_name,
        args.window,
        args.timeout,
        args.seed,
        args.capacity,
    )
    before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="hj-bench-torture-") as tmp,
        database_url(args.pg) as url,
    ):
        figures, bad = run(options, Path(tmp), url)
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(report(options, figures, backend, load_note(before, os.getloadavg()[0])))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
