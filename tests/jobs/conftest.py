"""Fixtures and helpers of the end-to-end job tests.

Every test drives a live ``hybridjobs serve`` (``support.server.start_server``) with boto3
and lets the service run real instance processes. Scripts and inputs are dropped straight
into the service's local object directory (``s3://BUCKET/KEY`` is the file
``DATA_DIR/objects/BUCKET/KEY``). Servers get a 2 s stop grace period so stops are quick.

Nothing may outlive a test: when a server's fixture ends, every process of every job in its
data directory (the pids and process groups recorded in ``runner_state``, and anything whose
working directory lies in a job's directory) is killed, and the test fails if a server that
was stopped normally left one behind. Jobs a test leaves unfinished on the shared module
server are cancelled after it, so one failure does not starve the next tests of capacity.

The same tests run on the Ray runner too (``tests/raycluster/test_contract_ray.py``), whose
instances live in directories of the cluster's nodes, not the data directory. So a test
finds an instance's files and processes through the :class:`JobKit` helpers, which know
both places (``runner_state`` records where a cluster runner put each instance), and reads
what an instance printed from the stored log events, not from files of the data directory.

Set ``HJ_TEST_WARM_POOL=true`` to run the suite with the warm pool (forked instances)
instead of cold-started instance processes.

These servers run instances **unsandboxed** (``HYBRIDJOBS_SANDBOX=none``; the service's
default is the sandbox wherever it can run): the runtime tests here watch an instance
from the host (its pids and process group, files it shares with the test by host path).
``tests/sandbox`` runs the job contract suite again inside the sandbox, leaving out only
the tests that reach into an instance through the host; the SDK, examples, CLI, console
and image tests run on the default, sandboxed. ``HJ_TEST_SANDBOX`` chooses another mode.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.jobs import create_job_request, unique_name
from support.postgres import create_schema
from support.server import LiveServer, server_env, start_server

from hybridjobs.jobs.model import Job, JobStatus
from hybridjobs.objects import LocalObjectStore
from hybridjobs.store.sql import SqlJobStore

BUCKET = "hj-e2e"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
POLL_SECONDS = 0.05
DEFAULT_TIMEOUT = 30.0

JOBS_SERVER_ENV: dict[str, str] = {
    "HYBRIDJOBS_STOP_GRACE_SECONDS": "2",
    "HYBRIDJOBS_WARM_POOL": os.environ.get("HJ_TEST_WARM_POOL", "false"),
    "HYBRIDJOBS_SANDBOX": os.environ.get("HJ_TEST_SANDBOX", "none"),
    "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
    "HYBRIDJOBS_CHECKPOINT_SYNC_SECONDS": "0.5",
}

Files = Mapping[str, str | bytes]


# -- waiting -----------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def describe(job: Mapping[str, Any]) -> str:
    """A job's status, failure reason and events, for assertion messages."""
    events = "\n".join(f"  {e['eventType']}: {e.get('message', '')}" for e in job.get("events", []))
    return (
        f"{job.get('jobArn')} is {job.get('status')}"
        f" (failureReason: {job.get('failureReason')!r})\n{events}"
    )


def wait_for_status(
    client: Any, arn: str, statuses: Collection[str], timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """GetJob until the job's status is one of ``statuses``; return that GetJob response.

    Fails at once when the job reaches a terminal status that is not wanted, and after
    ``timeout`` seconds otherwise, with the job's events in the message.
    """
    wanted = set(statuses)
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get_job(jobArn=arn, additionalAttributeNames=["QueueInfo"])
        if job["status"] in wanted:
            return job
        if job["status"] in TERMINAL:
            raise AssertionError(f"wanted {sorted(wanted)}, but {describe(job)}")
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {sorted(wanted)}: {describe(job)}"
            )
        time.sleep(POLL_SECONDS)


def event_types(job: Mapping[str, Any]) -> list[str]:
    return [str(e["eventType"]) for e in job["events"]]


# -- processes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """One live (non-zombie) process, as /proc shows it."""

    pid: int
    pgid: int
    start_time: int
    cwd: str | None
    cmdline: str


def live_processes() -> list[Proc]:
    """Every live, non-zombie process of this machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        try:
            cwd: str | None = os.readlink(entry / "cwd")
        except OSError:
            cwd = None
        found.append(Proc(int(entry.name), int(fields[2]), int(fields[19]), cwd, cmdline.strip()))
    return found


def recorded_instances(job: Job) -> list[tuple[int, int]]:
    """``(pid, start_time)`` of every instance the service recorded for ``job``."""
    return [(int(i["pid"]), int(i["start_time"])) for i in job.runner_state.get("instances", [])]


def processes_of(jobs: Collection[Job], job_dirs: Collection[Path]) -> list[Proc]:
    """Live processes that belong to ``jobs``: a recorded instance (same pid and start time),
    a member of a recorded instance's process group, or a process whose working directory
    lies in one of ``job_dirs`` (what an instance's children inherit)."""
    processes = live_processes()
    by_pid = {p.pid: p for p in processes}
    recorded = {pair for job in jobs for pair in recorded_instances(job)}
    groups = {
        pid
        for pid, start in recorded
        if pid not in by_pid or by_pid[pid].start_time == start  # the leader, or it is gone
    }
    roots = [str(d.resolve()) for d in job_dirs]
    mine = os.getpid()
    return [
        p
        for p in processes
        if p.pid != mine
        and (
            (p.pid, p.start_time) in recorded
            or p.pgid in groups
            or (p.cwd is not None and any(p.cwd == r or p.cwd.startswith(r + "/") for r in roots))
        )
    ]


def kill_processes(processes: Collection[Proc]) -> None:
    """SIGKILL each process, and the whole group of each group leader (an instance)."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if proc.pgid == proc.pid:
                os.killpg(proc.pgid, signal.SIGKILL)
            os.kill(proc.pid, signal.SIGKILL)


# -- archives ----------------------------------------------------------------------------


def tar_gz(files: Files) -> bytes:
    """A gzip'd tar of ``files`` (member name -> content), names used verbatim."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    """The regular files of a (gzip'd) tar: member name -> content."""
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for info in tar.getmembers():
            extracted = tar.extractfile(info) if info.isfile() else None
            if extracted is not None:
                members[info.name] = extracted.read()
    return members


# -- one live server and what tests do with it ------------------------------------------


LOCAL_MASTER_ADDRESSES = ("127.0.0.1", "localhost", "algo-1")
"""How local instances reach algo-1 (``MASTER_ADDR``)."""


@dataclass
class JobKit:
    """A live server plus the helpers the tests use with it. ``runner`` is the server's
    (``local``, or ``ray``: instances on a cluster, see the module docstring)."""

    server: LiveServer
    crashed: bool = False
    runner: str = "local"
    _store: SqlJobStore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.braket: Any = self.server.client("braket")
        self.objects = LocalObjectStore(self.data_dir / "objects")

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def store(self) -> SqlJobStore:
        """The service's own database, opened by the test (read what the API does not show)."""
        if self._store is None:
            self._store = SqlJobStore(f"sqlite:///{self.data_dir}/hybridjobs.db")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- inputs --

    def put(self, key: str, data: str | bytes) -> str:
        """Store an object in the service's bucket; its ``s3://`` URI."""
        self.objects.put_bytes(BUCKET, key, data.encode() if isinstance(data, str) else data)
        return f"s3://{BUCKET}/{key}"

    def put_script(self, source: str, file_name: str = "script.py") -> str:
        return self.put(f"src/{uuid.uuid4().hex}/{file_name}", source)

    def put_tar(self, files: Files) -> str:
        return self.put(f"src/{uuid.uuid4().hex}/source.tar.gz", tar_gz(files))

    # -- jobs --

    def create(
        self,
        script: str | None = None,
        *,
        files: Files | None = None,
        entry_point: str = "script",
        **overrides: Any,
    ) -> str:
        """CreateJob for ``script`` (one file named after the entry point's module) or
        ``files`` (a tar.gz, compression GZIP); ``overrides`` merge into the request
        (see ``support.jobs.create_job_request``). Returns the job ARN."""
        config: dict[str, str | None]
        if files is not None:
            config = {
                "s3Uri": self.put_tar(files),
                "entryPoint": entry_point,
                "compressionType": "GZIP",
            }
        else:
            module = entry_point.partition(":")[0]
            uri = self.put_script(script or "", f"{module}.py")
            config = {"s3Uri": uri, "entryPoint": entry_point, "compressionType": None}
        params: dict[str, Any] = {
            "jobName": unique_name("e2e"),
            "algorithmSpecification": {"scriptModeConfig": config},
            "outputDataConfig": {"s3Path": f"s3://{BUCKET}/out/{uuid.uuid4().hex}"},
            **overrides,
        }
        arn: str = self.braket.create_job(**create_job_request(**params))["jobArn"]
        return arn

    def wait(
        self, arn: str, statuses: Collection[str] = TERMINAL, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        return wait_for_status(self.braket, arn, statuses, timeout)

    def run(
        self, script: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any
    ) -> dict[str, Any]:
        """Create a job and wait until it ends; the final GetJob response."""
        return self.wait(self.create(script, **kwargs), TERMINAL, timeout)

    def run_ok(self, script: str | None = None, **kwargs: Any) -> dict[str, Any]:
        job = self.run(script, **kwargs)
        assert job["status"] == "COMPLETED", f"{describe(job)}\n{self.logs(job['jobArn'])}"
        return job

    def job(self, arn: str) -> Job:
        job = self.store.get_job(arn)
        assert job is not None, arn
        return job

    def job_dir(self, arn: str) -> Path:
        """The job's directory in the data directory (scratch space on a cluster runner)."""
        return self.data_dir / "jobs" / self.job(arn).job_id

    @property
    def keeps_instance_dirs(self) -> bool:
        """Whether an instance's directory outlives its job (local instances); a cluster
        agent removes its instance's directory once the instance has ended."""
        return self.runner == "local"

    def instance_dir(self, arn: str, host: str = "algo-1") -> Path:
        """The instance's directory (its ``/opt/ml``): in the job's directory for local
        instances, where the cluster runner recorded it otherwise (waits for the record,
        written once the instances are placed)."""
        if self.runner == "local":
            return self.job_dir(arn) / "instances" / host
        for instance in self._cluster_instances(arn, wait=True):
            if instance["host"] == host:
                return Path(instance["instance_dir"])
        raise AssertionError(f"no instance {host} recorded for {arn}")

    def job_dirs(self, arn: str) -> list[Path]:
        """Every directory that holds instances of the job (what their processes' working
        directories lie in): the job's directory, and on a cluster each node's."""
        dirs = [self.job_dir(arn)]
        for instance in self._cluster_instances(arn, wait=False):
            job_dir = Path(instance["instance_dir"]).parent.parent
            if job_dir not in dirs:
                dirs.append(job_dir)
        return dirs

    def recorded_hosts(self, arn: str) -> list[str]:
        """The instances the runner recorded as started (what a restarted service
        re-attaches to)."""
        state = self.job(arn).runner_state
        return [
            str(i["host"]) for i in state.get("instances") or state.get("cluster_instances", [])
        ]

    def master_addresses(self, arn: str) -> tuple[str, ...]:
        """The ``MASTER_ADDR`` values that name algo-1's machine: loopback (or algo-1) for
        local instances, algo-1's node address (as the runner recorded it) on a cluster."""
        if self.runner == "local":
            return LOCAL_MASTER_ADDRESSES
        return (str(self._cluster_instances(arn, wait=True)[0]["address"]),)

    def _cluster_instances(self, arn: str, wait: bool) -> list[dict[str, Any]]:
        """The cluster runner's record of the job's instances (``[]`` for local ones)."""
        if self.runner == "local":
            return []

        def recorded() -> list[dict[str, Any]]:
            instances: list[dict[str, Any]] = self.job(arn).runner_state.get(
                "cluster_instances", []
            )
            return instances

        return list(wait_until(recorded, what=f"the instances of {arn}") if wait else recorded())

    def shipped_lines(self, arn: str, host: str = "algo-1") -> list[str]:
        """The lines of the instance's log stream, as the service stores them."""
        return [e.message for e in self.store.list_log_events(arn, host)]

    def raw_log_lines(self, arn: str, host: str = "algo-1") -> list[str] | None:
        """Every line the instance wrote, from its raw log file where the runner keeps
        one (local instances); ``None`` on a cluster, whose agents keep no file once the
        instance has ended (its lines live in the log stream only)."""
        if not self.keeps_instance_dirs:
            return None
        return (self.job_dir(arn) / "logs" / f"{host}.log").read_text().splitlines()

    def logs(self, arn: str) -> str:
        """Every instance's raw log file (or, on a cluster, its stored log stream), for
        assertion messages and checks of what the instances printed."""
        logs_dir = self.job_dir(arn) / "logs"
        if not self.keeps_instance_dirs:
            hosts = [f"algo-{i}" for i in range(1, self.job(arn).instance_count + 1)]
            return "\n".join(
                f"--- {host} ---\n" + "\n".join(self.shipped_lines(arn, host))[-3000:]
                for host in hosts
            )
        if not logs_dir.is_dir():
            return "(no logs)"
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(logs_dir.iterdir())
        )

    # -- outputs --

    def results_path(self, job: Mapping[str, Any]) -> Path:
        """Where ``model.tar.gz`` of ``job`` lands in the object directory."""
        s3_path = str(job["outputDataConfig"]["s3Path"])
        bucket, _, key = s3_path.removeprefix("s3://").partition("/")
        return self.data_dir / "objects" / bucket / key.rstrip("/") / "output" / "model.tar.gz"

    def results(self, job: Mapping[str, Any]) -> dict[str, bytes]:
        """The members of the job's ``model.tar.gz``."""
        return untar(self.results_path(job).read_bytes())

    def results_json(self, job: Mapping[str, Any], name: str = "results.json") -> Any:
        return json.loads(self.results(job)[name])

    # -- processes --

    def processes(self, arn: str) -> list[Proc]:
        """Live processes of the job (see ``processes_of``; ``job_dirs``)."""
        return processes_of([self.job(arn)], self.job_dirs(arn))

    def kill_instances(self, arn: str) -> None:
        """SIGKILL every instance of the job with its whole process group (as a machine
        that kills them would), leaving the service and the runner's agents alone."""
        kill_processes(self.processes(arn))

    def assert_no_processes(self, arn: str, timeout: float = 5.0) -> None:
        """Fail unless every process of the job is gone (within ``timeout``)."""
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not self.processes(arn), timeout)
        left = self.processes(arn)
        assert not left, f"processes of {arn} outlived it: {left}"

    def leftovers(self) -> list[Proc]:
        """Live processes of any job of this data directory (wherever its instances ran)."""
        jobs_dir = self.data_dir / "jobs"
        job_dirs = list(jobs_dir.iterdir()) if jobs_dir.is_dir() else []
        jobs = self.store.list_jobs(list(JobStatus))
        for job in jobs:
            job_dirs.extend(self.job_dirs(job.job_arn))
        return processes_of(jobs, job_dirs)

    # -- crashes --

    def crash(self) -> None:
        """SIGKILL the server process alone (its job instances live on)."""
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(timeout=10)
        self.crashed = True


class ServerPool:
    """Starts job-running servers and, at the end, stops them and reaps their jobs."""

    def __init__(self, make_dir: Callable[[], Path]) -> None:
        self.make_dir = make_dir
        self.kits: list[JobKit] = []

    def start(
        self,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> JobKit:
        """A live server (``JOBS_SERVER_ENV`` plus ``env``) on ``data_dir`` (default: new)."""
        server = start_server(
            data_dir or self.make_dir(),
            env={**JOBS_SERVER_ENV, **(env or {})},
            extra_args=extra_args,
        )
        kit = JobKit(server)
        self.kits.append(kit)
        return kit

    def close(self) -> None:
        """Stop every server; kill what is left of their jobs; fail if a server that was
        stopped normally (not crashed by the test) left a process behind."""
        problems: list[str] = []
        for kit in self.kits:
            if kit.server.running:
                try:
                    kit.server.stop()
                except AssertionError as exc:
                    problems.append(str(exc))
        last: dict[Path, JobKit] = {kit.data_dir: kit for kit in self.kits}
        for data_dir, kit in last.items():
            left = kit.leftovers()
            kill_processes(left)
            if left and not kit.crashed:
                problems.append(f"job processes in {data_dir} outlived the server: {left}")
        for kit in self.kits:
            kit.close()
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobKit]:
    """A job-running server shared by the tests of one module."""
    pool = ServerPool(lambda: tmp_path_factory.mktemp("jobs"))
    kit = pool.start()
    try:
        yield kit
    finally:
        pool.close()


@pytest.fixture(autouse=True)
def _cancel_leftover_jobs(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test on the shared ``jobs`` server, cancel what it left unfinished."""
    yield
    if "jobs" not in request.fixturenames:
        return
    kit: JobKit = request.getfixturevalue("jobs")
    unfinished = kit.store.list_jobs([JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING])
    for job in unfinished:
        with contextlib.suppress(Exception):  # it may have ended meanwhile
            kit.braket.cancel_job(jobArn=job.job_arn)
    for job in unfinished:
        kit.wait(job.job_arn, TERMINAL)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    """Start servers of this test's own (``servers.start(env=...)``); reaped at the end."""
    counter = iter(range(1_000))
    pool = ServerPool(lambda: tmp_path / f"server-{next(counter)}")
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def scheduler_process() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Holds the ``hybridjobs scheduler`` processes a test starts; each is stopped with
    SIGTERM and must exit 0 within 15 s."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError("the scheduler did not stop within 15 s of SIGTERM") from None
        assert process.returncode == 0, process.returncode


def start_scheduler(api: Any, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``hybridjobs scheduler`` on the data directory of the API-only server ``api``, with
    the jobs tests' settings plus ``env``."""
    variables = server_env(
        {**JOBS_SERVER_ENV, **(env or {}), "HYBRIDJOBS_PORT": str(api.server.port)}
    )
    with (api.data_dir / "scheduler.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hybridjobs.cli", "scheduler", "--data-dir", str(api.data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=variables,
            start_new_session=True,
        )


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[tuple[str, SqlJobStore]]:
    """A PostgreSQL schema of the test's own (its URL, for servers and schedulers) and a
    store on it, to read what they wrote."""
    url = create_schema(pg_url)
    store = SqlJobStore(url)
    try:
        yield url, store
    finally:
        store.close()
