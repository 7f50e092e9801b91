"""The Ray runner against Ray Jobs, data parallelism across nodes, and the scheduler's
throughput with a control plane of several processes: ``python -m benchmarks ray``.

Three sections, in the order they run:

1. **Bell job, Ray Jobs vs the hybridjobs Ray runner.** One local 2-node Ray cluster (a
   head with the dashboard and a second node with ``node_b``, 2 CPUs each, each with its
   own temporary directory) and two ``hybridjobs serve --runner ray`` on it: *warm* (node
   pools, the default; the benchmark waits for them to be ready) and *cold*
   (``HYBRIDJOBS_WARM_POOL=false``). Rounds are interleaved: one Ray Jobs submission
   (``JobSubmissionClient``, ``python bell.py``), one warm and one cold hybridjobs job
   (the same script). All clients poll every 20 ms over HTTP (Ray's job status, GetJob).
   Ray's figure ends at Ray's own ``end_time``, hybridjobs' at its COMPLETED event;
   submit -> seen by the client is measured for all.
2. **Data-parallel training step, 2 nodes vs 1 node.** ``examples/data_parallel_qml``
   (2 instances, TCP all-reduce over ``MASTER_ADDR``/``MASTER_PORT``) with
   ``hybridjobs_placement_strategy=STRICT_SPREAD`` on the 2-node cluster, against the same
   job on a second service whose Ray cluster is one node with 4 CPUs (both instances on
   it). Create -> COMPLETED and the step time the job reports in ``results.json``.
3. **Scheduler throughput.** Two ``hybridjobs serve --no-scheduler`` and one
   ``hybridjobs scheduler`` (local runner, warm pool, capacity for every job at once) on
   one PostgreSQL database the benchmark creates and drops, one shared ``--data-dir``.
   Trivial jobs are created from 8 client threads through both API processes; admitted
   (QUEUED -> RUNNING) and completed jobs per second from the jobs' event times, and the
   CPU seconds each process spent (``/proc/PID/stat``).

The benchmark stops exactly the processes it started (never ``ray stop``). Ray Jobs needs
``ray[default]`` (the dashboard): without it the benchmark is skipped with a message;
without PostgreSQL section 3 is. Usage::

    python -m benchmarks ray [--quick] [--only bell,dp,scheduler] [--out PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    BELL_SCRIPT,
    BUCKET,
    TERMINAL,
    TRIVIAL_SCRIPT,
    Server,
    Stat,
    braket_client,
    clean_env,
    cpu_seconds,
    event_time,
    free_port,
    machine,
    machine_busy_seconds,
    mark,
    ms,
    stat_row,
    table,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "benchmarks-ray.md"
EXAMPLE = REPO / "examples" / "data_parallel_qml"
SECTIONS = ("bell", "dp", "scheduler")

GIB = 2**30
NODE_CPUS = 2
NODE_MEMORY = 10 * GIB
"""Ray's logical memory per node of the 2-node cluster: one ``ml.m5.large`` (2 vCPUs,
8 GiB) per node, so CPUs decide the placement."""
ONE_NODE_CPUS = 4
ONE_NODE_MEMORY = 20 * GIB
OBJECT_STORE = GIB
POLL = 0.02
DP_EPOCHS = 20
DP_SAMPLES = 240
THROUGHPUT_CLIENTS = 8
RAISED_CAPACITY = {
    "HYBRIDJOBS_CAPACITY_VCPUS": "2000",
    "HYBRIDJOBS_CAPACITY_MEMORY_GIB": "8000",
}
"""Room for every queued ml.m5.large job at once: admission is not held back by capacity."""
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Context:
    work: Path
    quick: bool
    notes: list[str] = field(default_factory=list)
    clusters: dict[str, RayCluster] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)

    def repeats(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        for name, cluster in self.clusters.items():
            cluster.stop()
            left = cluster.processes()
            if left:
                self.notes.append(f"Ray cluster {name}: processes left after stopping: {left}")
        self.clusters.clear()


# -- a local Ray cluster ------------------------------------------------------------------


class RayCluster:
    """Local Ray nodes started for the benchmark: a head (with the dashboard when asked)
    and worker nodes, each ``ray start`` with its own temporary directory and free ports.
    ``stop`` signals exactly the processes whose command line names one of those
    directories or that run in the session of one of its ``ray start`` commands."""

    def __init__(
        self,
        name: str,
        work: Path,
        head_cpus: int,
        memory: int,
        workers: Sequence[Mapping[str, float]] = (),
        dashboard: bool = False,
    ) -> None:
        self.name = name
        self.temp_dirs: list[Path] = []
        self.sessions: set[int] = set()
        self.log_path = work / f"ray-{name}.log"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard_url = ""
        self.commands: list[str] = []
        started = time.monotonic()
        head = ["--head", "--port", str(self.port), "--num-cpus", str(head_cpus)]
        head += ["--ray-client-server-port", str(free_port()), "--resources", '{"node_a": 1}']
        if dashboard:
            dashboard_port = free_port()
            head += ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1"]
            head += ["--dashboard-port", str(dashboard_port)]
            self.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        else:
            head += ["--include-dashboard", "false"]
        try:
            self._start(head, memory)
            for resources in workers:
                cpus = int(resources.get("CPU", NODE_CPUS))
                custom = {k: v for k, v in resources.items() if k != "CPU"}
                worker = ["--address", self.address, "--num-cpus", str(cpus)]
                worker += ["--resources", json.dumps(custom)]
                self._start(worker, memory)
            self._wait_nodes(1 + len(workers))
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        self.client: Any = None
        if dashboard:
            from ray.job_submission import JobSubmissionClient

            self.client = JobSubmissionClient(self.dashboard_url)

    def _start(self, args: list[str], memory: int) -> None:
        # Ray's socket paths must stay short: a temporary directory of its own under /tmp.
        temp_dir = Path(tempfile.mkdtemp(prefix="hjray-", dir="/tmp"))
        self.temp_dirs.append(temp_dir)
        ray = str(Path(sys.executable).with_name("ray"))
        command = [ray, "start", *args, "--node-ip-address", "127.0.0.1"]
        command += ["--memory", str(memory), "--object-store-memory", str(OBJECT_STORE)]
        command += ["--dashboard-agent-listen-port", str(free_port())]
        command += ["--disable-usage-stats", "--temp-dir", str(temp_dir)]
        self.commands.append(" ".join(["ray", "start", *args]))
        env = clean_env({"RAY_USAGE_STATS_ENABLED": "0"})
        with self.log_path.open("ab") as log:
            done = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            self.sessions.add(done.pid)  # Ray's daemons stay in the session it leads
            done.wait()
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{self.log_path.read_text()[-3000:]}")

    def _wait_nodes(self, count: int) -> None:
        """Wait until ``count`` nodes are alive (a worker's ``ray start`` returns before
        the head lists it). Runs in a child process: this one never connects to Ray."""
        probe = (
            "import ray,sys,time\n"
            f"ray.init(address={self.address!r}, log_to_driver=False)\n"
            "deadline = time.monotonic() + 60\n"
            f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
            "    if time.monotonic() > deadline: sys.exit(1)\n"
            "    time.sleep(0.2)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            env=clean_env({"RAY_USAGE_STATS_ENABLED": "0"}),
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"Ray cluster {self.name}: {count} nodes never came up")

    def processes(self) -> list[int]:
        """Live processes of this cluster: their command line names one of its directories,
        or (Ray's agents retitle themselves ``ray::DashboardAgent`` and the like) they are
        in the session of one of its ``ray start`` commands."""
        tags = [str(d).encode() for d in self.temp_dirs]
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            session = int(stat[stat.rindex(")") + 2 :].split()[3])
            if any(tag in cmdline for tag in tags) or session in self.sessions:
                found.append(int(entry.name))
        return found

    def stop(self) -> float:
        """SIGTERM every process of this cluster, SIGKILL what is left after 15 s; seconds."""
        started = time.monotonic()
        for signum, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            deadline = time.monotonic() + grace
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
        return time.monotonic() - started

    def run_job(self, entrypoint: str) -> RayJobRun:
        """Submit ``entrypoint`` to Ray Jobs and poll its status every 20 ms until it ends."""
        from ray.job_submission import JobStatus

        submitted = time.time()
        job_id = self.client.submit_job(entrypoint=entrypoint)
        while True:
            status = self.client.get_job_status(job_id)
            if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
                break
            time.sleep(POLL)
        seen = time.time()
        logs = self.client.get_job_logs(job_id)
        if status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"Ray job {job_id} {status}:\n{logs[-2000:]}")
        info: Any = self.client.get_job_info(job_id)
        printed, cpu = mark(logs)
        return RayJobRun(
            submitted=submitted,
            started=info.start_time / 1000,
            first_line=printed,
            cpu=cpu,
            ended=info.end_time / 1000,
            seen=seen,
            node=str(getattr(info, "driver_node_id", "") or ""),
        )


@dataclass
class RayJobRun:
    submitted: float
    started: float
    first_line: float
    cpu: float
    ended: float
    seen: float
    node: str


# -- hybridjobs jobs ----------------------------------------------------------------------


@dataclass
class JobRun:
    arn: str
    created: float
    seen: float
    job: dict[str, Any]

    def event(self, event_type: str) -> float:
        return event_time(self.job, event_type) - self.created


def put_object(server: Server, data: bytes, name: str) -> str:
    """Store ``data`` as ``name`` in the server's bucket (its local object directory); the
    ``s3://`` URI."""
    key = f"bench/{uuid.uuid4().hex}/{name}"
    path = server.data_dir / "objects" / BUCKET / key
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)
    return f"s3://{BUCKET}/{key}"


def job_request(
    script_uri: str,
    entry_point: str = "bench",
    instances: int = 1,
    device: str = "local:braket/default",
    hyperparameters: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    gzip: bool = False,
) -> dict[str, Any]:
    """A CreateJob request (``ml.m5.large``: 2 vCPUs, 8 GiB per instance)."""
    script: dict[str, Any] = {"entryPoint": entry_point, "s3Uri": script_uri}
    if gzip:
        script["compressionType"] = "GZIP"
    request: dict[str, Any] = {
        "jobName": f"bench-{uuid.uuid4().hex[:12]}",
        "roleArn": "arn:aws:iam::123456789012:role/bench",
        "algorithmSpecification": {"scriptModeConfig": script},
        "outputDataConfig": {"s3Path": f"s3://{BUCKET}/out/{uuid.uuid4().hex}"},
        "instanceConfig": {
            "instanceType": "ml.m5.large",
            "volumeSizeInGb": 30,
            "instanceCount": instances,
        },
        "deviceConfig": {"device": device},
    }
    if hyperparameters:
        request["hyperParameters"] = dict(hyperparameters)
    if inputs:
        request["inputDataConfig"] = [
            {"channelName": name, "dataSource": {"s3DataSource": {"s3Uri": uri}}}
            for name, uri in inputs.items()
        ]
    return request


def run_hybridjobs(server: Server, request: Mapping[str, Any], timeout: float = 300) -> JobRun:
    """CreateJob, then GetJob every 20 ms until the job ends (as the Ray Jobs client polls
    its job's status); raises unless it COMPLETED."""
    created = time.time()
    arn: str = server.braket.create_job(**request)["jobArn"]
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = server.braket.get_job(jobArn=arn)
        if job["status"] in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{arn} did not end within {timeout} s\n{server.log_tail()}")
        time.sleep(POLL)
    seen = time.time()
    if job["status"] != "COMPLETED":
        raise RuntimeError(f"{arn} {job['status']}: {job.get('failureReason')}")
    return JobRun(arn, created, seen, job)


def _sqlite(server: Server) -> sqlite3.Connection:
    uri = f"file:{server.data_dir / 'hybridjobs.db'}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=30)


def shipped_mark(server: Server, arn: str) -> tuple[float, float]:
    """(time, CPU seconds) of the ``MARK`` line the instance shipped to the service's log
    store (instances on Ray have no log file on the service's disk)."""
    deadline = time.monotonic() + 10
    while True:
        with contextlib.closing(_sqlite(server)) as database:
            rows = database.execute(
                "SELECT message FROM log_events WHERE job_arn = ? ORDER BY id", (arn,)
            ).fetchall()
        text = "\n".join(str(row[0]) for row in rows)
        if "MARK " in text or time.monotonic() > deadline:
            return mark(text)
        time.sleep(0.1)


def user_code_span(server: Server, arn: str) -> tuple[float, float]:
    """(the time algo-1's ``train.py`` printed its first line, the time the last instance
    printed its last line), as the instance agents stamped the shipped lines."""
    with contextlib.closing(_sqlite(server)) as database:
        first = database.execute(
            "SELECT min(timestamp) FROM log_events WHERE job_arn = ? AND message LIKE ?",
            (arn, "%: rank 0 of %"),
        ).fetchone()[0]
        last = database.execute(
            "SELECT max(timestamp) FROM log_events WHERE job_arn = ?", (arn,)
        ).fetchone()[0]
    if first is None or last is None:
        raise RuntimeError(f"{arn}: no shipped output of train.py")
    return float(first), float(last)


def cluster_instances(server: Server, arn: str) -> list[dict[str, Any]]:
    """The job's instances as its runner state records them."""
    with contextlib.closing(_sqlite(server)) as database:
        row = database.execute("SELECT runner_state FROM jobs WHERE job_arn = ?", (arn,)).fetchone()
    state = json.loads(row[0]) if row and row[0] else {}
    return list(state.get("cluster_instances", []))


def instance_nodes(server: Server, arn: str) -> list[str]:
    """The Ray node id of each of the job's instances, from its runner state."""
    return [str(i.get("node_id", "?")) for i in cluster_instances(server, arn)]


def warm_instances(server: Server, arn: str) -> tuple[int, int]:
    """(instances started by a node pool, all instances) of the job."""
    instances = cluster_instances(server, arn)
    return sum("pool_key" in i for i in instances), len(instances)


def job_results(server: Server, run: JobRun) -> dict[str, Any]:
    """The job's ``results.json`` from its ``model.tar.gz`` in the local object store."""
    s3_path = str(run.job["outputDataConfig"]["s3Path"])
    bucket, _, key = s3_path.removeprefix("s3://").partition("/")
    archive = server.data_dir / "objects" / bucket / key / "output" / "model.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile("results.json")
        if member is None:
            raise RuntimeError(f"{run.arn}: no results.json in {archive}")
        loaded: dict[str, Any] = json.load(member)
    data = loaded.get("dataDictionary", loaded)
    return dict(data)


def ray_server(
    context: Context, name: str, cluster: RayCluster, extra: Mapping[str, str] | None = None
) -> Server:
    env = {"HYBRIDJOBS_RUNNER": "ray", "HYBRIDJOBS_RAY_ADDRESS": cluster.address, **(extra or {})}
    server = Server(name, context.work / name, env)
    context.servers[name] = server
    return server


def two_node(context: Context) -> tuple[RayCluster, Server]:
    """The 2-node cluster (head with the dashboard, 2 CPUs + ``node_b``, 2 CPUs) and the
    ``serve --runner ray`` on it, started once and shared by sections 1 and 2."""
    if "two" not in context.clusters:
        context.clusters["two"] = RayCluster(
            "two",
            context.work,
            NODE_CPUS,
            NODE_MEMORY,
            workers=[{"CPU": NODE_CPUS, "node_b": 1}],
            dashboard=True,
        )
        ray_server(context, "ray-two", context.clusters["two"])
    return context.clusters["two"], context.servers["ray-two"]


def src_state() -> str:
    """Which hybridjobs source was measured: the commit, and uncommitted files under src/."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, text=True
        ).stdout.splitlines()
    except OSError:
        return "unknown (no git)"
    if not changed:
        return f"commit {commit}, src/ unmodified"
    return f"commit {commit} with {len(changed)} uncommitted file(s) under src/ (work in progress)"


# -- section 1: the Bell job --------------------------------------------------------------


def run_bell(context: Context) -> str:
    cluster, server = two_node(context)
    cold = ray_server(context, "ray-two-cold", cluster, {"HYBRIDJOBS_WARM_POOL": "false"})
    bell = context.work / "bell.py"
    bell.write_text(BELL_SCRIPT)
    entrypoint = f"{sys.executable} {bell}"
    request = job_request(server.put_script(BELL_SCRIPT))
    cold_request = job_request(cold.put_script(BELL_SCRIPT))
    pools_started = time.monotonic()
    pool = server.wait_pool()  # the node pools of both nodes are ready
    pools_wait = time.monotonic() - pools_started
    figures: dict[str, Stat] = {}

    def add(name: str, value: float) -> None:
        figures.setdefault(name, Stat()).add(value)

    def hybridjobs(prefix: str, target: Server, job: dict[str, Any]) -> None:
        run = run_hybridjobs(target, job | {"jobName": f"bench-{uuid.uuid4().hex[:12]}"})
        printed, cpu = shipped_mark(target, run.arn)
        add(f"{prefix}.admitted", run.event("STARTING_INSTANCE"))
        add(f"{prefix}.running", run.event("RUNNING"))
        add(f"{prefix}.first_line", printed - run.created)
        add(f"{prefix}.completed", run.event("COMPLETED"))
        add(f"{prefix}.seen", run.seen - run.created)
        add(f"{prefix}.cpu", cpu)
        warm, instances = warm_instances(target, run.arn)
        add(f"{prefix}.warm", warm / max(instances, 1))
        hj_nodes.update(node[:8] for node in instance_nodes(target, run.arn))
        add(f"stage.{prefix}.admit", run.event("STARTING_INSTANCE"))
        add(f"stage.{prefix}.place", run.event("RUNNING") - run.event("STARTING_INSTANCE"))
        add(f"stage.{prefix}.start", printed - run.created - run.event("RUNNING"))
        add(f"stage.{prefix}.finish", run.event("COMPLETED") - (printed - run.created))
        add(f"ratio.{prefix}.ended", last_ray[0] / run.event("COMPLETED"))
        add(f"ratio.{prefix}.seen", last_ray[1] / (run.seen - run.created))
        add(f"ratio.{prefix}.first_line", last_ray[2] / (printed - run.created))

    ray_nodes: set[str] = set()
    hj_nodes: set[str] = set()
    last_ray = [1.0, 1.0, 1.0]
    for _ in range(2):  # warm-up, discarded
        cluster.run_job(entrypoint)
        run_hybridjobs(server, request | {"jobName": f"bench-{uuid.uuid4().hex[:12]}"})
        run_hybridjobs(cold, cold_request | {"jobName": f"bench-{uuid.uuid4().hex[:12]}"})
    rounds = context.repeats(15, 3)
    for index in range(rounds):
        print(f"   bell round {index + 1}/{rounds}", file=sys.stderr, flush=True)
        ray_run = cluster.run_job(entrypoint)
        add("ray.first_line", ray_run.first_line - ray_run.submitted)
        add("ray.ended", ray_run.ended - ray_run.submitted)
        add("ray.seen", ray_run.seen - ray_run.submitted)
        add("ray.cpu", ray_run.cpu)
        ray_nodes.add(ray_run.node[:8])
        add("stage.ray.start", ray_run.first_line - ray_run.submitted)
        add("stage.ray.finish", ray_run.ended - ray_run.first_line)
        last_ray[:] = [
            ray_run.ended - ray_run.submitted,
            ray_run.seen - ray_run.submitted,
            ray_run.first_line - ray_run.submitted,
        ]
        hybridjobs("hj", server, request)
        hybridjobs("cold", cold, cold_request)
    f = figures
    rows = [
        stat_row(["submit → first user line", "Ray Jobs"], f["ray.first_line"]),
        stat_row(["submit → SUCCEEDED (Ray's end_time)", "Ray Jobs"], f["ray.ended"]),
        stat_row(["submit → SUCCEEDED seen by the client", "Ray Jobs"], f["ray.seen"]),
    ]
    for prefix, system in (("hj", "hybridjobs warm"), ("cold", "hybridjobs cold")):
        rows += [
            stat_row(
                ["create → admitted (STARTING_INSTANCE event)", system], f[f"{prefix}.admitted"]
            ),
            stat_row(["create → RUNNING event", system], f[f"{prefix}.running"]),
            stat_row(["create → first user line", system], f[f"{prefix}.first_line"]),
            stat_row(["create → COMPLETED event", system], f[f"{prefix}.completed"]),
            stat_row(["create → COMPLETED seen by the client", system], f[f"{prefix}.seen"]),
        ]
    cpu_rows = [
        [system, f"{f[key].median:.2f}", f"{f[key].low:.2f}", f"{f[key].high:.2f}", str(f[key].n)]
        for system, key in (
            ("Ray Jobs", "ray.cpu"),
            ("hybridjobs warm (node pool)", "hj.cpu"),
            ("hybridjobs cold (instance actor)", "cold.cpu"),
        )
    ]
    ratio_rows = [
        [label, *(f"{v:.2f}x" for v in (s.median, s.low, s.high)), str(s.n)]
        for prefix, side in (("hj", "warm"), ("cold", "cold"))
        for label, s in (
            (f"{side}: to the end (Ray end_time ÷ COMPLETED event)", f[f"ratio.{prefix}.ended"]),
            (f"{side}: as the client sees it (20 ms polling)", f[f"ratio.{prefix}.seen"]),
            (f"{side}: to the first user line", f[f"ratio.{prefix}.first_line"]),
        )
    ]
    ended = f["ratio.hj.ended"]
    goal = "met" if ended.median >= 10 else "not met"
    stage_rows = [
        stat_row([system, stage], f[key])
        for system, stage, key in (
            (
                "Ray Jobs",
                "submit → first user line (supervisor actor, interpreter)",
                "stage.ray.start",
            ),
            ("Ray Jobs", "first user line → end_time", "stage.ray.finish"),
            *(
                row
                for prefix, system, place in (
                    ("hj", "hybridjobs warm", "pool launch, agent, fork"),
                    ("cold", "hybridjobs cold", "actor placed, agent started"),
                )
                for row in (
                    (system, "create → admitted (placement group ready)", f"stage.{prefix}.admit"),
                    (system, f"admitted → RUNNING ({place})", f"stage.{prefix}.place"),
                    (system, "RUNNING → first user line", f"stage.{prefix}.start"),
                    (system, "first user line → COMPLETED", f"stage.{prefix}.finish"),
                )
            ),
        )
    ]
    warm_share = f["hj.warm"].median
    nodes = pool.get("nodes", [])
    zygotes = sorted({int(n.get("size", 0)) for n in nodes})
    loaded = sorted({m for n in nodes for m in (n.get("preload") or {}).get("loaded", [])})
    preload = (
        f"node pools ready on {pool.get('ready')} of {pool.get('size')} nodes "
        f"({pools_wait:.1f} s waited for them after the service started), "
        f"{'/'.join(map(str, zygotes))} zygote(s) each, which imported: "
        + ", ".join(f"`{m}`" for m in loaded)
    )
    limits = (
        "Where the warm path's time goes (medians): admission "
        f"{ms(f['stage.hj.admit'].median)}, launch on the node pool to RUNNING "
        f"{ms(f['stage.hj.place'].median)}, RUNNING to the first line "
        f"{ms(f['stage.hj.start'].median)}, first line to COMPLETED "
        f"{ms(f['stage.hj.finish'].median)}. The warm instance's script process spent "
        f"{f['hj.cpu'].median:.2f} CPU s before its first line (forked from a zygote that "
        f"had imported the SDK), the cold one {f['cold.cpu'].median:.2f} CPU s and Ray's "
        f"fresh `python bell.py` {f['ray.cpu'].median:.2f} CPU s. Share of warm instances "
        f"(median per job): {warm_share:.0%}. On this 2-core machine the 2 Ray raylets, the "
        "GCS, the dashboard, the two services and the jobs all share the cores, which "
        "widens every spread."
    )
    context.notes.append(
        f"Bell: Ray Jobs drivers ran on node(s) {sorted(ray_nodes)}; hybridjobs instances on "
        f"node(s) {sorted(hj_nodes)} (first 8 hex digits of the Ray node ids)."
    )
    return "\n".join(
        [
            "## 1. The Bell job: Ray Jobs vs the hybridjobs Ray runner, same cluster",
            "",
            f"One local 2-node Ray cluster ({cluster.start_seconds:.1f} s to start): "
            + "; ".join(f"`{c}`" for c in cluster.commands)
            + f" (each node also `--memory {NODE_MEMORY // GIB} GiB --object-store-memory "
            f"{OBJECT_STORE // GIB} GiB`, its own `--temp-dir` and free ports). Two "
            "`hybridjobs serve --runner ray --ray-address HEAD` on it (HYBRIDJOBS_RUNNER=ray, "
            "HYBRIDJOBS_RAY_ADDRESS; SQLite each): **warm** with the default warm pool "
            "settings (node pools), **cold** with HYBRIDJOBS_WARM_POOL=false. 2 warm-up "
            f"rounds discarded, then {ended.n} rounds of one Ray Jobs submission, one warm "
            "and one cold hybridjobs job, interleaved. All clients poll every 20 ms over "
            "HTTP (`get_job_status`, `GetJob`).",
            "",
            "What each side starts per job, and what is already running:",
            "",
            "- **Ray Jobs**: the dashboard's job manager starts a JobSupervisor actor (a Ray "
            "worker process, which Ray may take from its pool of pre-started idle workers), "
            f"which runs the entrypoint `{Path(sys.executable).name} bell.py` as a fresh "
            "interpreter: the script imports the Braket SDK itself. Nothing of the SDK is "
            "preloaded.",
            "- **hybridjobs warm**: the scheduler (inside `serve`, a Ray driver) reserves a "
            "placement group for the job (the bundle's vCPUs and memory), then asks the "
            "node pool of the bundle's node (a detached actor per node, "
            "`hybridjobs-pool-<node id>`, started with the service and kept) to run the "
            "instance: the pool's instance agent (already imported, on a thread) lays out "
            "the instance, fetches the script through the service's S3 surface, has a "
            "zygote's embryo (a fork made in advance) become the instance, ships the "
            "output with PutLogEvents and uploads the results. Ready before the rounds: "
            f"{preload}.",
            "- **hybridjobs cold**: the same placement group, then a new detached instance "
            "actor on the bundle (a Ray worker process that imports the agent) whose agent "
            "starts the bootstrap as a fresh interpreter that imports the SDK.",
            "- The script's own CPU seconds (its `MARK` line: `getrusage(RUSAGE_SELF)` at its "
            "first line, zero at a fork) show what the process that ran it had to import:",
            "",
            table(["script process CPU s", "median", "min", "max", "n"], cpu_rows),
            "",
            table(["figure", "system", "median", "min", "max", "n"], rows, right_from=2),
            "",
            "Per round, Ray Jobs ÷ hybridjobs (above 1: hybridjobs is faster):",
            "",
            table(["ratio", "median", "min", "max", "rounds"], ratio_rows),
            "",
            f"The issue's goal (at least 10 times faster than Ray Jobs with warm starts) is "
            f"**{goal}** in this run: median {ended.median:.2f}x (min {ended.low:.2f}x, max "
            f"{ended.high:.2f}x) to the end of the job.",
            "",
            "### Where the time goes",
            "",
            "Per round, between consecutive marks (the first user line is the time on the "
            "script's `MARK` line):",
            "",
            table(["system", "stage", "median", "min", "max", "n"], stage_rows, right_from=2),
            "",
            limits,
        ]
    )


# -- section 2: data-parallel training, 2 nodes vs 1 ---------------------------------------


def example_archive() -> bytes:
    """``examples/data_parallel_qml`` as ``source.tar.gz`` (its ``.py`` files)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(EXAMPLE.glob("*.py")):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def example_dataset(path: Path) -> bytes:
    spec = importlib.util.spec_from_file_location("make_dataset", EXAMPLE / "make_dataset.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {EXAMPLE / 'make_dataset.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written: Path = module.make_dataset(path, DP_SAMPLES)
    return written.read_bytes()


def run_dp(context: Context) -> str:
    if not EXAMPLE.is_dir():
        return "## 2. Data-parallel training\n\nskipped: examples/data_parallel_qml is missing"
    _, two_server = two_node(context)
    context.clusters["one"] = one_cluster = RayCluster(
        "one", context.work, ONE_NODE_CPUS, ONE_NODE_MEMORY
    )
    one_server = ray_server(context, "ray-one", one_cluster)
    archive = example_archive()
    dataset = example_dataset(context.work / "dataset.csv")
    hyperparameters = {
        "sagemaker_distributed_dataparallel_enabled": "true",
        "sagemaker_instance_type": "ml.m5.large",
        "epochs": str(DP_EPOCHS),
    }
    setups: dict[str, tuple[Server, dict[str, Any]]] = {}
    for label, server, strategy in (
        ("2 nodes", two_server, "STRICT_SPREAD"),
        ("1 node", one_server, None),
    ):
        extra = {"hybridjobs_placement_strategy": strategy} if strategy else {}
        request = job_request(
            put_object(server, archive, "source.tar.gz"),
            entry_point="train:main",
            instances=2,
            device="local:pennylane/default.qubit",
            hyperparameters=hyperparameters | extra,
            inputs={"train": put_object(server, dataset, "dataset.csv")},
            gzip=True,
        )
        setups[label] = (server, request)

    figures: dict[str, Stat] = {}
    nodes: dict[str, set[int]] = {label: set() for label in setups}
    losses: dict[str, list[float]] = {}

    def one_round(label: str, record: bool) -> None:
        server, request = setups[label]
        run = run_hybridjobs(server, request | {"jobName": f"dp-{uuid.uuid4().hex[:12]}"})
        results = job_results(server, run)
        if not record:
            return
        figures.setdefault(f"{label}.completed", Stat()).add(run.event("COMPLETED"))
        figures.setdefault(f"{label}.running", Stat()).add(run.event("RUNNING"))
        seconds = float(results["training_seconds"])
        figures.setdefault(f"{label}.step", Stat()).add(seconds / DP_EPOCHS)
        figures.setdefault(f"{label}.training", Stat()).add(seconds)
        nodes[label].add(len(set(instance_nodes(server, run.arn))))
        code_started, code_ended = user_code_span(server, run.arn)
        figures.setdefault(f"{label}.code", Stat()).add(code_started - run.created)
        figures.setdefault(f"{label}.tail", Stat()).add(
            event_time(run.job, "COMPLETED") - code_ended
        )
        losses[label] = list(results["loss_curve"])

    for label in setups:  # warm-up, discarded
        one_round(label, record=False)
    rounds = context.repeats(6, 2)
    for index in range(rounds):
        print(f"   dp round {index + 1}/{rounds}", file=sys.stderr, flush=True)
        for label in setups:
            one_round(label, record=True)
    rows = []
    for label in setups:
        rows.append(stat_row([label, "create → RUNNING event"], figures[f"{label}.running"]))
        rows.append(stat_row([label, "create → train.py's first line"], figures[f"{label}.code"]))
        rows.append(
            stat_row([label, "last instance's last line → COMPLETED"], figures[f"{label}.tail"])
        )
        rows.append(stat_row([label, "create → COMPLETED event"], figures[f"{label}.completed"]))
        rows.append(stat_row([label, "training (results.json)"], figures[f"{label}.training"]))
        rows.append(stat_row([label, "one step (training ÷ epochs)"], figures[f"{label}.step"]))
    step_ratio = figures["2 nodes.step"].median / figures["1 node.step"].median
    total_ratio = figures["2 nodes.completed"].median / figures["1 node.completed"].median
    same_curve = losses.get("2 nodes") == losses.get("1 node")
    shares = []
    for label in setups:
        completed = figures[f"{label}.completed"].median
        shares.append(
            f"{label}: training {100 * figures[f'{label}.training'].median / completed:.0f} %, "
            f"start-up to train.py's first line "
            f"{100 * figures[f'{label}.code'].median / completed:.0f} %, finishing "
            f"{100 * figures[f'{label}.tail'].median / completed:.0f} %"
        )
    return "\n".join(
        [
            "## 2. A 2-instance data-parallel training step: 2 nodes vs 1 node",
            "",
            f"`examples/data_parallel_qml` (2 instances of ml.m5.large, {DP_SAMPLES} samples, "
            f"{DP_EPOCHS} epochs, PennyLane `default.qubit` with backprop; every epoch each "
            "instance computes the gradient on its half of the batch and the TCP all-reduce "
            "over `MASTER_ADDR`/`MASTER_PORT` sums them, algo-1 applies the average and saves "
            "`results.json`). **2 nodes**: the 2-node cluster of section 1 with "
            "`hybridjobs_placement_strategy=STRICT_SPREAD`; **1 node**: a second `serve "
            "--runner ray` on a 1-node Ray cluster "
            f"(`ray start --head --num-cpus {ONE_NODE_CPUS}`, `--memory "
            f"{ONE_NODE_MEMORY // GIB} GiB`, {one_cluster.start_seconds:.1f} s to start), "
            "where both instances' bundles fit on the one node. One warm-up job each, "
            f"then {rounds} rounds alternating the two. Distinct Ray nodes per job, from the "
            f"jobs' runner state: 2 nodes → {sorted(nodes['2 nodes'])}, 1 node → "
            f"{sorted(nodes['1 node'])}.",
            "",
            table(["placement", "figure", "median", "min", "max", "n"], rows, right_from=2),
            "",
            "The two log-line figures use the times the instance agents stamped on the lines "
            "they shipped (PutLogEvents), so they are as coarse as the agents' batches: "
            "train.py's first line comes after it has imported PennyLane and the Braket SDK; "
            "from the last line to COMPLETED is the instance's exit, the agents' results "
            "upload, the scheduler's polling of the actors and packing model.tar.gz.",
            "",
            f"2 nodes ÷ 1 node, medians: step {step_ratio:.2f}x, create → COMPLETED "
            f"{total_ratio:.2f}x. The two placements trained the same loss curve: "
            f"{'yes' if same_curve else 'no'}.",
            "",
            "Share of create → COMPLETED (medians): " + "; ".join(shares) + ". The job is "
            "dominated by starting its two instances (admission, the placement group and "
            "actors, then two fresh interpreters importing PennyLane and the Braket SDK at "
            "the same time on the same cores), not by the training step, which takes a few "
            "tens of milliseconds either way.",
            "",
            'Honest caveat: both "nodes" are Ray raylets on this one machine, so the '
            f"instances share its {os.cpu_count()} cores either way, and the all-reduce goes "
            "over loopback in both placements. What the comparison shows is the cost of the "
            "placement machinery (STRICT_SPREAD across two raylets vs one raylet) and of "
            "the two instances contending for the same cores, not the gain of real "
            "additional machines.",
            f"The 2-node cluster's two raylets ({2 * NODE_CPUS} logical CPUs) and the 1-node "
            f"cluster's one ({ONE_NODE_CPUS}) all ran during this section.",
        ]
    )


# -- section 3: scheduler throughput --------------------------------------------------------


def _pg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped at the end; its SQLAlchemy URL."""
    name = f"hjbench_{uuid.uuid4().hex[:10]}"
    with contextlib.closing(_pg_connect(PG_ADMIN)) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with contextlib.closing(_pg_connect(PG_ADMIN)) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SchedulerProcess:
    """A ``hybridjobs scheduler`` started for the benchmark."""

    def __init__(self, data_dir: Path, db_url: str, endpoint: str, env: Mapping[str, str]):
        self.log_path = data_dir / "scheduler.log"
        command = [sys.executable, "-m", "hybridjobs.cli", "scheduler", "--endpoint", endpoint]
        command += ["--data-dir", str(data_dir), "--db-url", db_url]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(env),
                start_new_session=True,
            )

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass
class CpuSnapshot:
    when: float
    busy: float
    processes: dict[str, float]
    backends: dict[int, float]
    client: float
    tree: float


CHILDREN = "scheduler's children (zygotes, job processes, task workers)"
OTHERS = "rest of the machine (other load)"


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backends(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database``."""
    with contextlib.closing(_pg_connect(PG_ADMIN)) as admin:
        pids = [
            int(row[0])
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
        ]
    return {pid: cpu_seconds(pid) for pid in pids}


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root``'s descendants, alive or reaped: for every live descendant
    its own and its reaped children's time (``/proc/PID/stat`` utime, stime, cutime,
    cstime), plus the reaped children's time of ``root`` itself."""
    parents: dict[int, int] = {}
    times: dict[int, tuple[float, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        own = (int(fields[11]) + int(fields[12])) / tick
        reaped = (int(fields[13]) + int(fields[14])) / tick
        times[pid] = (own, reaped)
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total = times.get(root, (0.0, 0.0))[1]
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        total += sum(times[pid])
        stack.extend(children.get(pid, []))
    return total


def snapshot(pids: Mapping[str, int], database: str, tree: int) -> CpuSnapshot:
    return CpuSnapshot(
        when=time.monotonic(),
        busy=machine_busy_seconds(),
        processes={name: cpu_seconds(pid) for name, pid in pids.items()},
        backends=_backends(database),
        client=_client_cpu(),
        tree=tree_cpu_seconds(tree),
    )


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds between two snapshots, by who spent them (the rest: Ray's idle
    processes and anything else the machine ran)."""
    spent = {
        name: after.processes[name] - before.processes.get(name, 0.0) for name in after.processes
    }
    spent["PostgreSQL backends"] = sum(
        cpu - before.backends.get(pid, 0.0) for pid, cpu in after.backends.items()
    )
    spent["benchmark clients (boto3)"] = after.client - before.client
    spent[CHILDREN] = after.tree - before.tree
    total = after.busy - before.busy
    spent[OTHERS] = total - sum(spent.values())
    spent["machine total"] = total
    return spent


def _pg_jobs(connection: Any, since: float) -> list[tuple[float, float | None, float | None, str]]:
    """(created, admitted, ended, status) of the jobs created at or after ``since``;
    admitted is the STARTING_INSTANCE event (QUEUED -> RUNNING)."""
    rows = connection.execute(
        "SELECT j.created_at, "
        "(SELECT min(e.time) FROM job_events e WHERE e.job_arn = j.job_arn "
        "AND e.event_type = 'STARTING_INSTANCE'), "
        "(SELECT min(e.time) FROM job_events e WHERE e.job_arn = j.job_arn "
        "AND e.event_type IN ('COMPLETED', 'FAILED', 'CANCELLED')), j.status "
        "FROM jobs j WHERE j.created_at >= %s",
        (since,),
    ).fetchall()
    return [(float(r[0]), r[1], r[2], str(r[3])) for r in rows]


def _wait_ended(connection: Any, since: float, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = _pg_jobs(connection, since)
        ended = [r for r in rows if r[2] is not None]
        if len(rows) >= count and len(ended) >= count:
            failed = [r for r in ended if r[3] != "COMPLETED"]
            if failed:
                raise RuntimeError(f"{len(failed)} throughput job(s) did not complete")
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ended)} of {count} jobs ended within {timeout} s")
        time.sleep(0.25)


@dataclass
class Burst:
    jobs: int
    created_per_s: float
    admitted_per_s: float
    completed_per_s: float
    wait_median: float
    """Median of admitted - created (live), or of admitted - resumed (backlog)."""
    cpu: dict[str, float]
    seconds: float


def burst(
    apis: Sequence[Server],
    db_url: str,
    jobs: int,
    pids: Mapping[str, int],
    paused: int | None = None,
) -> Burst:
    """Create ``jobs`` trivial jobs from 8 client threads, spread over ``apis``; wait for
    all of them to end; the rates from the jobs' own times. With ``paused`` (the
    scheduler's pid) the scheduler is stopped (SIGSTOP) while the jobs are created and
    resumed (SIGCONT) once all are queued, and the clock starts at the resumption."""
    request = job_request(apis[0].put_script(TRIVIAL_SCRIPT))
    database = db_url.rsplit("/", 1)[1]
    # boto3 clients (thread-safe) made before the clock: job i goes to API i % 2.
    clients = [braket_client(apis[i % len(apis)].url) for i in range(THROUGHPUT_CLIENTS)]

    def create(index: int) -> None:
        client = clients[index % len(clients)]
        client.create_job(**(request | {"jobName": f"tp-{uuid.uuid4().hex[:12]}"}))

    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    resumed: float | None = None
    with contextlib.closing(_pg_connect(url)) as connection:
        since = time.time() - 0.001
        before = snapshot(pids, database, pids["scheduler process"])
        if paused is not None:
            os.kill(paused, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(THROUGHPUT_CLIENTS) as pool:
                list(pool.map(create, range(jobs)))
        finally:
            if paused is not None:
                resumed = time.time()
                os.kill(paused, signal.SIGCONT)
        _wait_ended(connection, since, jobs)
        after = snapshot(pids, database, pids["scheduler process"])
        rows = _pg_jobs(connection, since)
    created = sorted(r[0] for r in rows)
    admitted = [float(r[1]) for r in rows if r[1] is not None]
    ended = [float(r[2]) for r in rows if r[2] is not None]
    start = created[0] if resumed is None else resumed
    waits = sorted(float(r[1]) - (r[0] if resumed is None else resumed) for r in rows if r[1])
    return Burst(
        jobs=len(rows),
        created_per_s=len(created) / max(created[-1] - created[0], 1e-9),
        admitted_per_s=len(admitted) / max(max(admitted) - start, 1e-9),
        completed_per_s=len(ended) / max(max(ended) - start, 1e-9),
        wait_median=waits[len(waits) // 2],
        cpu=cpu_shares(before, after),
        seconds=after.when - before.when,
    )


def postgres_reachable() -> str | None:
    """``None`` when the PostgreSQL server of section 3 answers, else why not."""
    try:
        with contextlib.closing(_pg_connect(PG_ADMIN)) as admin:
            admin.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


def run_scheduler(context: Context) -> str:
    context.close()  # the Ray clusters of sections 1-2 would only add idle load here
    missing = postgres_reachable()
    if missing is not None:
        context.notes.append(
            f"Scheduler throughput skipped: no PostgreSQL at {PG_ADMIN} ({missing})."
        )
        return "## 3. Scheduler throughput\n\nskipped: no PostgreSQL server (see the notes)"
    jobs = context.repeats(200, 60)
    rounds = context.repeats(3, 1)
    data_dir = context.work / "scale"
    results: dict[str, list[Burst]] = {"live": [], "backlog": []}
    with scratch_database() as db_url:
        api_env = {"HYBRIDJOBS_RUN_SCHEDULER": "false", "HYBRIDJOBS_DB_URL": db_url}
        apis = [Server(f"api-{i}", data_dir, api_env, log_name=f"api-{i}.log") for i in (1, 2)]
        scheduler: SchedulerProcess | None = None
        try:
            scheduler_env = {"HYBRIDJOBS_WARM_POOL": "true", **RAISED_CAPACITY}
            scheduler = SchedulerProcess(data_dir, db_url, apis[0].url, scheduler_env)
            pids = {
                "scheduler process": scheduler.process.pid,
                "API process 1": apis[0].process.pid,
                "API process 2": apis[1].process.pid,
            }
            # Warm-up: the scheduler's zygotes and task workers start, clients connect.
            burst(apis, db_url, 10, pids)
            for index in range(rounds):
                print(f"   scheduler round {index + 1}/{rounds}", file=sys.stderr, flush=True)
                results["live"].append(burst(apis, db_url, jobs, pids))
                results["backlog"].append(
                    burst(apis, db_url, jobs, pids, paused=scheduler.process.pid)
                )
        except BaseException:
            if scheduler is not None:
                print(scheduler.log_tail(), file=sys.stderr)
            raise
        finally:
            if scheduler is not None:
                scheduler.stop()
            for api in apis:
                api.stop()
    return render_scheduler(jobs, results)


def render_scheduler(jobs: int, results: Mapping[str, list[Burst]]) -> str:
    modes = (("live", "created while the scheduler runs"), ("backlog", "backlog"))

    def med(values: Sequence[float]) -> float:
        return Stat(list(values)).median

    def rate_row(label: str, values: Sequence[float]) -> list[str]:
        s = Stat(list(values))
        return [label, f"{s.median:.1f}", f"{s.low:.1f}", f"{s.high:.1f}", str(s.n)]

    rows = []
    for mode, label in modes:
        bursts = results[mode]
        rows.append(rate_row(f"{label}: created/s (API)", [b.created_per_s for b in bursts]))
        rows.append(rate_row(f"{label}: admitted/s", [b.admitted_per_s for b in bursts]))
        rows.append(rate_row(f"{label}: completed/s", [b.completed_per_s for b in bursts]))
    waits = [
        stat_row([label], Stat([b.wait_median for b in results[mode]])) for mode, label in modes
    ]
    cpu_rows = []
    per_job: dict[str, dict[str, float]] = {}
    for mode, _ in modes:
        bursts = results[mode]
        wall = med([b.seconds for b in bursts])
        per_job[mode] = {}
        for name in bursts[0].cpu:
            spent = med([b.cpu[name] for b in bursts])
            total = med([b.cpu["machine total"] for b in bursts])
            per_job[mode][name] = med([b.cpu[name] / b.jobs for b in bursts])
            share = "" if name == "machine total" else f"{100 * spent / max(total, 1e-9):.0f} %"
            cpu_rows.append(
                [
                    mode,
                    name,
                    f"{spent:.1f}",
                    share,
                    f"{1000 * per_job[mode][name]:.1f}",
                    f"{wall:.1f}",
                ]
            )
    live = results["live"]
    cores = os.cpu_count() or 1
    busy = med([b.cpu["machine total"] / max(b.seconds, 1e-9) for b in live])
    scheduler_ms = 1000 * per_job["backlog"]["scheduler process"]
    api_ms = 1000 * (per_job["live"]["API process 1"] + per_job["live"]["API process 2"])
    pg_ms = 1000 * per_job["live"]["PostgreSQL backends"]
    children_ms = 1000 * per_job["live"][CHILDREN]
    others_ms = 1000 * per_job["live"][OTHERS]
    total_ms = 1000 * per_job["live"]["machine total"]
    plane_ms = api_ms + pg_ms + 1000 * per_job["live"]["scheduler process"]
    plane_share = 100 * plane_ms / max(total_ms, 1e-9)
    created = med([b.created_per_s for b in live])
    admitted = med([b.admitted_per_s for b in live])
    if created > 2 * admitted:
        limit_sentence = (
            f"The two API processes took CreateJob at {created:.0f} jobs/s, far faster than "
            f"the scheduler admitted them ({admitted:.1f} jobs/s): the limit is on the "
            "scheduler's side, not the API's."
        )
    else:
        limit_sentence = (
            f"Jobs were admitted ({admitted:.1f} jobs/s) about as fast as the clients "
            f"created them ({created:.0f} jobs/s): the limit is the clients and the API."
        )
    return "\n".join(
        [
            "## 3. Scheduler throughput: 2 API processes, 1 scheduler, PostgreSQL",
            "",
            "Two `hybridjobs serve --no-scheduler` (HYBRIDJOBS_RUN_SCHEDULER=false) and one "
            "`hybridjobs scheduler --endpoint API-1` on one PostgreSQL database created for "
            "the run (`postgresql+psycopg://postgres@127.0.0.1:5432/hjbench_…`, dropped at "
            "the end), all with the same `--data-dir` (one local object store). The "
            "scheduler uses the **local runner** with its warm pool (2 zygotes) and capacity "
            "for every job at once (HYBRIDJOBS_CAPACITY_VCPUS=2000, "
            "HYBRIDJOBS_CAPACITY_MEMORY_GIB=8000), so admission is never held back by "
            f"capacity. Each burst: {jobs} trivial jobs (`print` of one line) created as fast "
            f"as {THROUGHPUT_CLIENTS} client threads can, alternately through the two API "
            "processes. **Created while the scheduler runs**: the scheduler admits as jobs "
            "arrive; rates are jobs ÷ (last event - first creation). **Backlog**: the "
            "scheduler process is paused (SIGSTOP) while the jobs are created and resumed "
            "(SIGCONT) once all are queued; rates are jobs ÷ (last event - resumption). "
            "Times are the database's: admitted = the STARTING_INSTANCE event (QUEUED → "
            "RUNNING), completed = the COMPLETED event. One 10-job warm-up burst first, "
            "then bursts alternating the two kinds.",
            "",
            table(["burst", "jobs/s median", "min", "max", "bursts"], rows),
            "",
            "Median wait to admission per burst (live: admitted - created; backlog: "
            "admitted - resumed):",
            "",
            table(["burst", "median", "min", "max", "bursts"], waits),
            "",
            "Where the CPU went during a burst, from the first CreateJob to the last job's "
            "end (medians over the bursts; CPU seconds from `/proc/PID/stat` of each "
            "process itself, PostgreSQL backends of this database found in "
            "`pg_stat_activity`, the benchmark's own clients by `getrusage`, the machine "
            "total from `/proc/stat`; the scheduler's children are its process tree: each "
            "live descendant's own and reaped children's time, plus the time of the "
            "children it reaped; the rest of the machine is the total minus all of these: "
            "whatever else ran on this shared machine; the Ray clusters of sections 1-2 "
            "are stopped before this section):",
            "",
            table(
                ["burst", "who", "CPU s", "share", "CPU ms per job", "burst wall s"],
                cpu_rows,
                right_from=2,
            ),
            "",
            "### What limits it",
            "",
            f"{limit_sentence} The machine was "
            f"{100 * busy / cores:.0f} % busy ({busy:.2f} of {cores} cores) during the live "
            f"bursts, and per job it spent {total_ms:.0f} ms of CPU: {children_ms:.0f} ms "
            "in the scheduler's children (the jobs' own processes, the zygotes they are "
            f"forked from, the task workers), {others_ms:.0f} ms elsewhere on the machine "
            f"(not this test's control plane), {api_ms:.1f} ms in the "
            f"two API processes, {pg_ms:.1f} ms in PostgreSQL, and in the scheduler "
            f"process itself {scheduler_ms:.1f} ms per job (backlog bursts). So on these 2 "
            "cores admission and completion are bounded by the CPU the machine has, which "
            "every process competes for; the control plane's own cost per job (API + "
            f"PostgreSQL + scheduler: {plane_ms:.0f} ms) is {plane_share:.0f} % of it. "
            "The scheduler's "
            "per-job CPU (one admission loop in one Python process: a claim transaction, "
            "a supervisor thread, the launch through the warm pool, then finishing the "
            f"job) puts its ceiling near {1000 / max(scheduler_ms, 1e-9):.0f} jobs/s on "
            "one free core, before the jobs themselves need any CPU; past that the next "
            "step is more than one active scheduler (sharding), see docs/scale-out.md.",
        ]
    )


# -- the report ------------------------------------------------------------------------------

MODULE_SECTIONS: dict[str, Callable[[Context], str]] = {
    "bell": run_bell,
    "dp": run_dp,
    "scheduler": run_scheduler,
}


def render(context: Context, bodies: Mapping[str, str], seconds: float, argv: str) -> str:
    about = machine()
    lines = [
        "# Benchmarks: the Ray runner vs Ray Jobs, data parallelism, scheduler throughput",
        "",
        f"Produced by `python -m benchmarks ray{argv}` (benchmarks/ray_runner.py; "
        "`--quick` for a smoke run). Needs `ray[default]` (Ray Jobs and the dashboard) "
        "and a PostgreSQL server at 127.0.0.1:5432 (user `postgres`) for section 3. Every "
        "figure is the median of repeated runs with min and max; the machine is shared "
        "and noisy, so compare figures and ratios of one run.",
        "",
        f"- when: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"wall time {seconds:.0f} s{' (--quick)' if context.quick else ''}",
        f"- machine: {about['nproc']} CPUs ({about['cpu']}), {about['memory']} memory, "
        f"Linux {about['kernel']}, Python {about['python']}",
        f"- packages: {about['packages']}",
        f"- hybridjobs source: {src_state()}",
        "",
    ]
    for body in bodies.values():
        lines += [body.rstrip(), ""]
    if context.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in context.notes), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ray", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report path")
    args = parser.parse_args(argv)
    try:
        import ray.job_submission  # noqa: F401
    except ImportError:
        print(
            "ray benchmark skipped: it needs ray[default] (pip install 'hybridjobs[bench]')",
            file=sys.stderr,
        )
        return 0
    chosen = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="hj-bench-ray-"))
    context = Context(work=work, quick=args.quick)
    bodies: dict[str, str] = {}
    started = time.monotonic()
    try:
        for name in chosen:
            print(f"== {name}", file=sys.stderr, flush=True)
            section_started = time.monotonic()
            load_before = os.getloadavg()[0]
            bodies[name] = MODULE_SECTIONS[name](context)
            context.notes.append(
                f"Section {name}: 1-minute load average {load_before:.1f} at its start, "
                f"{os.getloadavg()[0]:.1f} at its end, on {os.cpu_count()} CPUs (the machine "
                "is shared: other users' test runs add to it)."
            )
            print(bodies[name], flush=True)
            took = time.monotonic() - section_started
            print(f"== {name} took {took:.0f} s", file=sys.stderr, flush=True)
    except BaseException:
        for server in context.servers.values():
            print(f"--- {server.name} log:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        context.close()
        shutil.rmtree(work, ignore_errors=True)
    flags = (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    report = render(context, bodies, time.monotonic() - started, flags)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
