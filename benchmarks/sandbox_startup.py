"""Job start-up with and without the sandbox: warm and cold, five servers side by side.

Each round runs the Bell job (:data:`~benchmarks.harness.BELL_SCRIPT`) on five servers of
the same environment: warm pool and cold path with ``--sandbox none``; warm with the
sandbox made in place (the default: a forked instance makes its own sandbox, see
``hybridjobs.sandbox.inplace``), warm from sandboxed one-shot zygotes
(``--sandbox-warm-starts zygotes``, see ``hybridjobs.runners.boxedzygote``), and cold
(``bwrap`` + ``python -m hybridjobs.bootstrap``). Every warm pool is refilled before each
round (only the one-shot zygotes need it). Figures: create -> first user line and create
-> COMPLETED, and per round the ratio of each sandboxed figure to the unsandboxed one of
its path (the issue's target: sandboxed warm starts within 2x of unsandboxed ones).

The multi-instance variant runs the same job as three instances on three more servers
with a pool of three zygotes (unsandboxed, in place, one-shot zygotes with one slot per
host name ``algo-1`` … ``algo-3``): create -> the *last* instance's first line, create ->
COMPLETED, create -> the pool full again (a one-shot zygote serves one instance: three to
replace), and how many instances started warm.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from benchmarks.harness import BELL_SCRIPT, Server, event_time, stat_row, table

if TYPE_CHECKING:
    from benchmarks.suite import Context

SERVERS: dict[str, dict[str, str]] = {
    "warm": {"HYBRIDJOBS_SANDBOX": "none", "HYBRIDJOBS_WARM_POOL": "true"},
    "cold": {"HYBRIDJOBS_SANDBOX": "none", "HYBRIDJOBS_WARM_POOL": "false"},
    "warm-in-place": {"HYBRIDJOBS_SANDBOX": "bwrap", "HYBRIDJOBS_SANDBOX_WARM_STARTS": "in-place"},
    "warm-zygotes": {"HYBRIDJOBS_SANDBOX": "bwrap", "HYBRIDJOBS_SANDBOX_WARM_STARTS": "zygotes"},
    "cold-sandbox": {"HYBRIDJOBS_SANDBOX": "bwrap", "HYBRIDJOBS_WARM_POOL": "false"},
}
"""Each server of the comparison and its settings (all else the suite's defaults)."""
PATHS = tuple(SERVERS)
RATIOS = {"warm-in-place": "warm", "warm-zygotes": "warm", "cold-sandbox": "cold"}
"""Each sandboxed path and the unsandboxed one it is compared with."""
MULTI = ("warm-3", "warm-in-place-3", "warm-zygotes-3")
HOSTS = ("algo-1", "algo-2", "algo-3")


def _servers(context: Context) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for name, env in SERVERS.items():
        key = f"sandbox-{name}"
        if key not in context.servers:
            context.servers[key] = Server(key, context.work / key, env)
        servers[name] = context.servers[key]
    for name, server in servers.items():
        if name.startswith("warm"):
            server.wait_pool()
    return servers


def run_sandbox(context: Context) -> str:
    if shutil.which("bwrap") is None:
        context.notes.append("sandbox: skipped, bubblewrap (bwrap) is not installed")
        return "## Sandbox\n\nSkipped: bubblewrap is not installed on this machine."
    servers = _servers(context)
    uris = {name: server.put_script(BELL_SCRIPT) for name, server in servers.items()}
    for name, server in servers.items():  # warm-up: caches, first connections
        server.wait(server.create(uris[name])[0])
        if name.startswith("warm"):
            server.wait_pool()
    rounds = context.repeats(12, 3)
    for _ in range(rounds):
        for name, server in servers.items():
            if name.startswith("warm"):
                server.wait_pool()  # a one-shot zygote serves one instance: let it refill
            arn, created = server.create(uris[name])
            job = server.wait(arn)
            moment, _cpu = server.mark(arn)
            context.figure(f"sandbox.{name}.first_line").add(moment - created)
            context.figure(f"sandbox.{name}.completed").add(event_time(job, "COMPLETED") - created)
        f = context.figures
        for boxed_path, plain_path in RATIOS.items():
            boxed = f[f"sandbox.{boxed_path}.first_line"].samples[-1]
            plain = f[f"sandbox.{plain_path}.first_line"].samples[-1]
            context.figure(f"sandbox.ratio.{boxed_path}").add(boxed / plain)
    f = context.figures
    rows = []
    for figure, label in (
        ("first_line", "create → first user line"),
        ("completed", "create → COMPLETED"),
    ):
        for path in PATHS:
            rows.append(stat_row([label, path], f[f"sandbox.{path}.{figure}"]))
    ratio_rows = [
        [boxed, plain, *(f"{value:.2f}x" for value in (r.median, r.low, r.high)), str(r.n)]
        for boxed, plain in RATIOS.items()
        for r in [f[f"sandbox.ratio.{boxed}"]]
    ]
    return "\n".join(
        [
            "## Sandbox: start-up with and without the sandbox",
            "",
            f"Bell job, {rounds} interleaved rounds over five servers of one environment: "
            "warm pool and cold path with `--sandbox none`; warm with the sandbox made in "
            "place (the default), warm from one-shot sandboxed zygotes "
            "(`--sandbox-warm-starts zygotes`), and cold in bubblewrap. Every pool is full "
            "before each round.",
            "",
            table(["figure", "path", "median", "min", "max", "n"], rows, right_from=2),
            "",
            "Per round, sandboxed ÷ unsandboxed first line (target for warm starts: ≤ 2x):",
            "",
            table(["sandboxed", "against", "median", "min", "max", "n"], ratio_rows, right_from=2),
            "",
            run_sandbox_multi(context),
        ]
    )


def _multi_servers(context: Context) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for name in MULTI:
        if name not in context.servers:
            env = {"HYBRIDJOBS_WARM_POOL": "true", "HYBRIDJOBS_WARM_POOL_SIZE": str(len(HOSTS))}
            env.update(SERVERS[name.removesuffix("-3")])
            context.servers[name] = Server(name, context.work / name, env)
        servers[name] = context.servers[name]
        servers[name].wait_pool()
    return servers


def run_sandbox_multi(context: Context) -> str:
    """Three-instance Bell jobs, warm, with and without the sandbox (module docstring)."""
    if shutil.which("bwrap") is None:
        return "## Sandbox, three instances\n\nSkipped: bubblewrap is not installed."
    servers = _multi_servers(context)
    uris = {name: server.put_script(BELL_SCRIPT) for name, server in servers.items()}
    for name, server in servers.items():  # warm-up
        server.wait(server.create(uris[name], instances=len(HOSTS))[0])
    rounds = context.repeats(6, 2)
    for _ in range(rounds):
        for name, server in servers.items():
            server.wait_pool()  # a one-shot zygote serves one instance: let them refill
            arn, created = server.create(uris[name], instances=len(HOSTS))
            job = server.wait(arn)
            last = max(server.mark(arn, host)[0] for host in HOSTS)
            context.figure(f"sandbox.{name}.last_first_line").add(last - created)
            context.figure(f"sandbox.{name}.completed").add(event_time(job, "COMPLETED") - created)
            server.wait_pool()  # one-shot zygotes: three to replace
            context.figure(f"sandbox.{name}.refilled").add(time.time() - created)
        f = context.figures
        plain = f["sandbox.warm-3.last_first_line"].samples[-1]
        for name in MULTI[1:]:
            boxed = f[f"sandbox.{name}.last_first_line"].samples[-1]
            context.figure(f"sandbox.ratio.{name}").add(boxed / plain)
    f = context.figures
    rows = []
    for figure, label in (
        ("last_first_line", "create → last instance's first line"),
        ("completed", "create → COMPLETED"),
        ("refilled", "create → pool full again"),
    ):
        for name in MULTI:
            rows.append(stat_row([label, name], f[f"sandbox.{name}.{figure}"]))
    launches = {name: server.status()["warm_pool"]["launches"] for name, server in servers.items()}
    ratios = ", ".join(
        f"{name} {f[f'sandbox.ratio.{name}'].median:.2f}x "
        f"(min {f[f'sandbox.ratio.{name}'].low:.2f}x, max {f[f'sandbox.ratio.{name}'].high:.2f}x)"
        for name in MULTI[1:]
    )
    return "\n".join(
        [
            "## Sandbox: a three-instance job, warm, with and without the sandbox",
            "",
            f"Bell job as 3 instances, {rounds} interleaved rounds over three servers with a "
            "pool of 3 zygotes (unsandboxed; sandbox in place; one-shot zygotes with one slot "
            "per host name); the pools are full before each round.",
            "",
            table(["figure", "server", "median", "min", "max", "n"], rows, right_from=2),
            "",
            f"Per round, sandboxed ÷ unsandboxed last first line: {ratios} (target ≤ 2x). "
            f"Launches (warm-up included): {launches}.",
        ]
    )
