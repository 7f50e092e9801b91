"""Job start-up with and without the sandbox: warm and cold, four servers side by side.

Each round runs the Bell job (:data:`~benchmarks.harness.BELL_SCRIPT`) on the warm-pool and
cold servers of the suite (no sandbox: a loopback service without keys) and on two more
started with ``--sandbox bwrap``: warm (sandboxed one-shot zygotes, see
``hybridjobs.runners.boxedzygote``) and cold (``bwrap`` + ``python -m hybridjobs.bootstrap``).
Figures: create -> first user line and create -> COMPLETED, and per round the ratio of the
sandboxed to the unsandboxed figure on each path (the issue's target: sandboxed warm starts
within 2x of today's).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from benchmarks.harness import BELL_SCRIPT, Server, event_time, stat_row, table

if TYPE_CHECKING:
    from benchmarks.suite import Context

PATHS = ("warm", "cold", "warm-sandbox", "cold-sandbox")
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
        ]
    )
