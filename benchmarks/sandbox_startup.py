"""Job start-up with and without the sandbox: warm and cold, four servers side by side.

Each round runs the Bell job (:data:`~benchmarks.harness.BELL_SCRIPT`) on the warm-pool and
cold servers of the suite (no sandbox: a loopback service without keys) and on two more
started with ``--sandbox bwrap``: warm (sandboxed one-shot zygotes, see
``hybridjobs.runners.boxedzygote``) and cold (``bwrap`` + ``python -m hybridjobs.bootstrap``).
Figures: create -> first user line and create -> COMPLETED, and per round the ratio of the
sandboxed to the unsandboxed figure on each path (the issue's target: sandboxed warm starts
within 2x of today's).

The multi-instance variant runs the same job as three instances on two more servers with a
pool of three zygotes, unsandboxed and sandboxed (one slot per host name ``algo-1`` …
``algo-3``): create -> the *last* instance's first line, create -> COMPLETED, create ->
the pool full again (a sandboxed zygote serves one instance: three to replace), and how
many instances started warm.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from benchmarks.harness import BELL_SCRIPT, Server, event_time, stat_row, table

if TYPE_CHECKING:
    from benchmarks.suite import Context

PATHS = ("warm", "cold", "warm-sandbox", "cold-sandbox")
MULTI = ("warm-3", "warm-sandbox-3")
HOSTS = ("algo-1", "algo-2", "algo-3")
SANDBOX_ENV = {"HYBRIDJOBS_SANDBOX": "bwrap"}


def _servers(context: Context) -> dict[str, Server]:
    servers = {"warm": context.server("warm"), "cold": context.server("cold")}
    for name, pool in (("warm-sandbox", "true"), ("cold-sandbox", "false")):
        if name not in context.servers:
            env = {**SANDBOX_ENV, "HYBRIDJOBS_WARM_POOL": pool}
            context.servers[name] = Server(name, context.work / name, env)
        servers[name] = context.servers[name]
    servers["warm-sandbox"].wait_pool()
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
                server.wait_pool()  # a sandboxed zygote serves one instance: let it refill
            arn, created = server.create(uris[name])
            job = server.wait(arn)
            moment, _cpu = server.mark(arn)
            context.figure(f"sandbox.{name}.first_line").add(moment - created)
            context.figure(f"sandbox.{name}.completed").add(event_time(job, "COMPLETED") - created)
        f = context.figures
        for path in ("warm", "cold"):
            boxed = f[f"sandbox.{path}-sandbox.first_line"].samples[-1]
            plain = f[f"sandbox.{path}.first_line"].samples[-1]
            context.figure(f"sandbox.ratio.{path}").add(boxed / plain)
    f = context.figures
    rows = []
    for figure, label in (
        ("first_line", "create → first user line"),
        ("completed", "create → COMPLETED"),
    ):
        for path in PATHS:
            rows.append(stat_row([label, path], f[f"sandbox.{path}.{figure}"]))
    ratios = {path: f[f"sandbox.ratio.{path}"] for path in ("warm", "cold")}
    return "\n".join(
        [
            "## Sandbox: start-up with and without bubblewrap",
            "",
            f"Bell job, {rounds} interleaved rounds over four servers: warm pool and cold path "
            "without a sandbox, and the same two with `--sandbox bwrap` (each sandboxed "
            "zygote forks one instance; the pool refills before each warm round).",
            "",
            table(["figure", "path", "median", "min", "max", "n"], rows, right_from=2),
            "",
            "Per round, sandboxed ÷ unsandboxed first line: warm "
            f"{ratios['warm'].median:.2f}x (min {ratios['warm'].low:.2f}x, max "
            f"{ratios['warm'].high:.2f}x; target ≤ 2x), cold {ratios['cold'].median:.2f}x "
            f"(min {ratios['cold'].low:.2f}x, max {ratios['cold'].high:.2f}x).",
            "",
            run_sandbox_multi(context),
        ]
    )


def _multi_servers(context: Context) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for name in MULTI:
        if name not in context.servers:
            env = {"HYBRIDJOBS_WARM_POOL": "true", "HYBRIDJOBS_WARM_POOL_SIZE": str(len(HOSTS))}
            if "sandbox" in name:
                env.update(SANDBOX_ENV)
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
            server.wait_pool()  # a sandboxed zygote serves one instance: let them refill
            arn, created = server.create(uris[name], instances=len(HOSTS))
            job = server.wait(arn)
            last = max(server.mark(arn, host)[0] for host in HOSTS)
            context.figure(f"sandbox.{name}.last_first_line").add(last - created)
            context.figure(f"sandbox.{name}.completed").add(event_time(job, "COMPLETED") - created)
            server.wait_pool()  # sandboxed: three zygotes to replace
            context.figure(f"sandbox.{name}.refilled").add(time.time() - created)
        f = context.figures
        boxed = f["sandbox.warm-sandbox-3.last_first_line"].samples[-1]
        plain = f["sandbox.warm-3.last_first_line"].samples[-1]
        context.figure("sandbox.ratio.warm-3").add(boxed / plain)
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
    ratio = f["sandbox.ratio.warm-3"]
    return "\n".join(
        [
            "## Sandbox: a three-instance job, warm, with and without bubblewrap",
            "",
            f"Bell job as 3 instances, {rounds} interleaved rounds over two servers with a "
            "pool of 3 zygotes (sandboxed: one slot per host name); the pools refill before "
            "each round.",
            "",
            table(["figure", "server", "median", "min", "max", "n"], rows, right_from=2),
            "",
            f"Per round, sandboxed ÷ unsandboxed last first line: {ratio.median:.2f}x "
            f"(min {ratio.low:.2f}x, max {ratio.high:.2f}x; target ≤ 2x). Launches (warm-up "
            f"included): {launches}.",
        ]
    )
