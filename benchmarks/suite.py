"""The job start-up and throughput suite (issue 6): ``python -m benchmarks jobs``.

Sections, in the order they run (each a module with ``run(context) -> str``, markdown):

1. ``memory``: resident memory of the idle service and its zygotes, and per running
   instance, forked vs cold (run first, while the service is still idle);
2. ``startup``: create -> RUNNING, create -> first user line and create -> COMPLETED of a
   1-instance Bell job on the warm pool, on the cold path and as a fresh ``python``
   process (interleaved round by round), and create -> COMPLETED of a 4-instance job;
   ``sandbox``: the same Bell job warm and cold with and without the sandbox (in place and
   from one-shot zygotes);
3. ``throughput``: 200 trivial jobs queued at once, jobs completed per second;
4. ``api``: CreateJob / GetJob / SearchJobs from 8 client processes;
5. ``ray``: the same Bell job on Ray Jobs (a local head the benchmark starts and stops),
   interleaved with the warm pool and the cold path, with what each side preloads
   (:mod:`benchmarks.peer`);
6. ``targets``: the issue's targets, each as a ratio measured in this run.

Prints the report and writes it, with the machine's description, to
``docs/benchmarks.md``. Usage::

    python -m benchmarks jobs [--quick] [--only startup,ray,...] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import Server, Stat, load_note, machine

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
SECTIONS = ("memory", "startup", "sandbox", "throughput", "api", "ray", "targets")
MODULES = {
    "memory": "benchmarks.memory",
    "startup": "benchmarks.startup",
    "sandbox": "benchmarks.sandbox_startup",
    "throughput": "benchmarks.load",
    "api": "benchmarks.load",
    "ray": "benchmarks.peer",
    "targets": "benchmarks.targets",
}

WARM_ENV = {"HYBRIDJOBS_WARM_POOL": "true", "HYBRIDJOBS_SANDBOX": "none"}
COLD_ENV = {"HYBRIDJOBS_WARM_POOL": "false", "HYBRIDJOBS_SANDBOX": "none"}
"""The shared servers run instances unsandboxed, as the figures of earlier runs did and as
the fresh-``python`` baseline runs (with the cold instance's own environment, host paths);
the ``sandbox`` section measures the sandbox against them."""


@dataclass
class Context:
    """What sections share: the work directory, the shared servers, named figures."""

    work: Path
    quick: bool
    load_before: float = 0.0
    """The 1-minute load average when the suite started."""
    figures: dict[str, Stat] = field(default_factory=dict)
    """Named figures later sections (and the targets) use, e.g. ``warm.first_line``."""
    notes: list[str] = field(default_factory=list)
    servers: dict[str, Server] = field(default_factory=dict)

    def repeats(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def figure(self, name: str) -> Stat:
        return self.figures.setdefault(name, Stat())

    def server(self, name: str) -> Server:
        """The shared ``warm`` (default settings, pool full) or ``cold`` (no pool) server."""
        if name not in self.servers:
            env = WARM_ENV if name == "warm" else COLD_ENV
            server = Server(name, self.work / name, env)
            self.servers[name] = server
            if name == "warm":
                server.wait_pool()
        return self.servers[name]

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


def _section(name: str) -> Callable[[Context], str]:
    module = importlib.import_module(MODULES[name])
    runner: Callable[[Context], str] = getattr(module, f"run_{name}")
    return runner


def byte_compile_hybridjobs() -> bool:
    """Write bytecode for the hybridjobs package where it is missing or stale (a cold
    instance imports the bootstrap from it); whether anything had to be compiled."""
    import compileall
    import importlib.util

    import hybridjobs

    package = Path(hybridjobs.__file__).parent
    stale = [
        source
        for source in package.rglob("*.py")
        if not Path(importlib.util.cache_from_source(str(source))).exists()
    ]
    compileall.compile_dir(str(package), quiet=1)  # also refreshes stale bytecode
    return bool(stale)


def render(context: Context, bodies: dict[str, str], seconds: float) -> str:
    about = machine()
    lines = [
        "# Benchmarks: job start-up, throughput, API, memory, and Ray Jobs as the peer",
        "",
        "Produced by `python -m benchmarks jobs` (benchmarks/suite.py; `--quick` for a smoke",
        "run); `make bench` runs it with the other benchmarks. The Ray Jobs section needs the",
        "optional `bench` extra (`pip install 'hybridjobs[bench]'`) and is skipped without it.",
        "Every figure is the median of repeated runs with min and max; the machine is shared",
        "and noisy, so compare figures and ratios of one run.",
        "",
        f"- when: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"suite wall time {seconds:.0f} s{' (--quick)' if context.quick else ''}",
        f"- machine: {about['nproc']} CPUs ({about['cpu']}), {about['memory']} memory, "
        f"Linux {about['kernel']}, Python {about['python']}",
        f"- packages: {about['packages']}",
        f"- load: {load_note(context.load_before, os.getloadavg()[0])}",
        "",
        "Paths compared: **warm pool**: the instance is forked from a pre-started zygote that",
        "imported the SDK (default settings: 2 zygotes preloading numpy, boto3,",
        "braket.circuits, braket.devices, braket.jobs and pennylane, and parsing two neutral",
        "circuits, not the benchmark's Bell circuit: `WARM_UP_CIRCUITS` in",
        "runners/zygote.py); **cold path**: each instance is a fresh",
        "`python -m hybridjobs.bootstrap` (`--no-warm-pool`), nothing preloaded; **fresh",
        "`python`**: the job's script run as `python script.py` with the whole environment",
        "the service gave a cold instance (its `spec.json`), the floor of any design that",
        "starts an interpreter per job. Times run",
        "from the client's CreateJob call (or the spawn) to the service's event timestamps",
        "and to the time the script printed on its first line.",
        "",
    ]
    for body in bodies.values():
        lines += [body.rstrip(), ""]
    if context.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in context.notes), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks jobs", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report path")
    args = parser.parse_args(argv)
    chosen = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="hj-bench-"))
    context = Context(work=work, quick=args.quick, load_before=os.getloadavg()[0])
    if byte_compile_hybridjobs():
        context.notes.append(
            "hybridjobs' own modules were byte-compiled first (as a wheel install does): "
            "PYTHONDONTWRITEBYTECODE=1 in this environment left the source tree without "
            "bytecode, so every cold instance would compile them from source (~15 ms)."
        )
    bodies: dict[str, str] = {}
    started = time.monotonic()
    try:
        for name in chosen:
            print(f"== {name}", file=sys.stderr, flush=True)
            section_started = time.monotonic()
            bodies[name] = _section(name)(context)
            print(bodies[name], flush=True)
            took = time.monotonic() - section_started
            print(f"== {name} took {took:.0f} s", file=sys.stderr, flush=True)
    finally:
        context.close()
        shutil.rmtree(work, ignore_errors=True)
    report = render(context, bodies, time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
