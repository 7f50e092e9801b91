"""Section 5 of the jobs suite: the same Bell job on Ray Jobs, the warm pool and the cold path.

Each round submits ``python bell.py`` to a local Ray head (started and stopped by the
benchmark: :class:`benchmarks.ray_jobs.RayHead`, ``JobSubmissionClient``, status polled
every 20 ms) and creates the same job on the suite's warm-pool server and on its cold server
(no pool), one after the other, so each hybridjobs path is compared with Ray Jobs in the same
rounds. What each side has preloaded before a job arrives:

- **Ray Jobs**: a running head (GCS, raylet, dashboard and its job agent) after 2 warm-up
  jobs; each job's entrypoint is a fresh ``python bell.py`` that the job's supervisor actor
  spawns, which imports the SDK itself. Nothing of the SDK is preloaded.
- **hybridjobs warm pool**: zygotes that imported the settings' preload modules and parsed
  neutral circuits (:data:`hybridjobs.runners.zygote.WARM_UP_CIRCUITS`, not the Bell
  circuit); the instance is forked from one.
- **hybridjobs cold path**: nothing preloaded; the instance is a fresh
  ``python -m hybridjobs.bootstrap`` that imports the SDK when the script does, like Ray's.

Without ray installed (the optional ``bench`` extra) the section says so and is skipped.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from benchmarks.harness import BELL_SCRIPT, event_time, stat_row, table
from benchmarks.ray_jobs import RayHead, ray_installed

if TYPE_CHECKING:
    from benchmarks.suite import Context

TITLE = "## 5. Ray Jobs, the peer: the same Bell job, warm pool and cold path"
PATHS = {"warm": "hybridjobs warm pool", "cold": "hybridjobs cold path"}
AGENT_WAIT_SECONDS = 60.0


def preloads(context: Context) -> str:
    """The markdown list of what each side preloads (the warm pool's from its status)."""
    pool = context.server("warm").status()["warm_pool"]
    ready = pool.get("preload") or {}
    modules = ", ".join(f"`{m}`" for m in ready.get("loaded", [])) or "the default modules"
    warmed = ", ".join(ready.get("warmed", [])) or "nothing"
    return "\n".join(
        [
            "What each side has loaded before a job arrives:",
            "",
            "- **Ray Jobs**: a running head (GCS, raylet, dashboard with its job agent), warmed "
            "by 2 discarded jobs; each job's entrypoint `python bell.py` is a fresh interpreter "
            "(spawned by the job's supervisor actor) that imports the SDK itself: nothing of "
            "the SDK is preloaded.",
            f"- **hybridjobs warm pool**: {pool.get('size', '?')} zygotes that imported "
            f"{modules} and warmed {warmed} (two neutral circuits parsed: x, cz, ry / y, "
            "swap, not the Bell circuit's h and cnot, see `WARM_UP_CIRCUITS` in "
            "runners/zygote.py; nothing simulated); the instance is forked from one, so the "
            "SDK's import is paid before the job arrives.",
            "- **hybridjobs cold path**: nothing preloaded; the instance is a fresh "
            "`python -m hybridjobs.bootstrap` that imports the SDK when the script does, as "
            "Ray's fresh `python bell.py` does: the like-for-like comparison with Ray Jobs.",
        ]
    )


def first_warm_up(head: RayHead, entrypoint: str) -> None:
    """The first (discarded) job: retried while Ray's dashboard answers ``No available
    agent to submit job`` (its job agent registers a little after ``ray start`` returns),
    at most :data:`AGENT_WAIT_SECONDS`; any other error is raised."""
    deadline = time.monotonic() + AGENT_WAIT_SECONDS
    while True:
        try:
            head.run(entrypoint)
            return
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def run_ray(context: Context) -> str:
    if not ray_installed():
        context.notes.append(
            "Ray Jobs: skipped (ray not installed; pip install 'hybridjobs[bench]')."
        )
        return f"{TITLE}\n\nskipped (ray not installed)"
    servers = {name: context.server(name) for name in PATHS}
    bell = context.work / "bell.py"
    bell.write_text(BELL_SCRIPT)
    uris = {name: server.put_script(BELL_SCRIPT) for name, server in servers.items()}
    head = RayHead(context.work)
    try:
        entrypoint = f"{sys.executable} {bell}"
        first_warm_up(head, entrypoint)
        head.run(entrypoint)  # the second warm-up, discarded
        rounds = context.repeats(10, 3)
        for _ in range(rounds):
            ended, seen, first_line = head.run(entrypoint)
            context.figure("ray.completed").add(ended)
            context.figure("ray.seen").add(seen)
            context.figure("ray.first_line").add(first_line)
            for name, server in servers.items():
                arn, created = server.create(uris[name])
                job = server.wait(arn)
                completed = event_time(job, "COMPLETED") - created
                context.figure(f"ray_round.{name}_completed").add(completed)
                context.figure(f"ray_round.{name}_first_line").add(server.mark(arn)[0] - created)
                context.figure(f"ratio.ray_over_{name}_completed").add(ended / completed)
    finally:
        stop_seconds = head.stop()
    left = head.processes()
    if left:
        context.notes.append(f"Ray: processes left after stopping the head: {left}")
    return render(context, head.start_seconds, stop_seconds)


def render(context: Context, start_seconds: float, stop_seconds: float) -> str:
    f = context.figures
    rows = [
        stat_row(["submit → SUCCEEDED (Ray's end time)", "Ray Jobs"], f["ray.completed"]),
        stat_row(["submit → SUCCEEDED seen by the client", "Ray Jobs"], f["ray.seen"]),
        stat_row(["submit → first user line", "Ray Jobs"], f["ray.first_line"]),
    ]
    for name, label in PATHS.items():
        rows.append(stat_row(["create → COMPLETED", label], f[f"ray_round.{name}_completed"]))
        rows.append(
            stat_row(["create → first user line", label], f[f"ray_round.{name}_first_line"])
        )
    ratios = [
        f"{label}: {r.median:.2f}x (min {r.low:.2f}x, max {r.high:.2f}x)"
        for name, label in PATHS.items()
        for r in [f[f"ratio.ray_over_{name}_completed"]]
    ]
    return "\n".join(
        [
            TITLE,
            "",
            f"Local Ray head (`ray start --head --num-cpus 2 --include-dashboard true "
            f"--dashboard-host 127.0.0.1 --disable-usage-stats`: {start_seconds:.1f} s to "
            f"start, {stop_seconds:.1f} s to stop); entrypoint `python bell.py`; 2 warm-up "
            f"jobs, then {f['ray.completed'].n} rounds of one Ray job, one warm-pool job and "
            "one cold-path job, in that order.",
            "",
            preloads(context),
            "",
            table(["figure", "system", "median", "min", "max", "n"], rows, right_from=2),
            "",
            "Per round, Ray submit → SUCCEEDED ÷ hybridjobs create → COMPLETED: "
            + "; ".join(ratios)
            + ". The warm pool's lead over Ray Jobs is the SDK import it paid before the job "
            "arrived; the cold path pays it per job, as Ray Jobs does.",
        ]
    )
