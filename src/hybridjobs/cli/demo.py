"""``hybridjobs demo``: a real 2-instance QAOA job, end to end, in well under a minute.

Uses the service at the endpoint when one answers there; otherwise (unless an endpoint
was named explicitly) starts an :class:`~hybridjobs.cli.embedded.EmbeddedService` with a
temporary data directory and stops it afterwards. The job itself is
:mod:`hybridjobs.cli.demo_qaoa`, uploaded and run exactly as ``hybridjobs run`` would.
Works offline: everything it needs is installed with hybridjobs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hybridjobs.cli.client import ENDPOINT_ENV, Connection, endpoint_from, region_from
from hybridjobs.cli.embedded import EmbeddedService, is_healthy
from hybridjobs.cli.exits import UNREACHABLE, CliError, UsageError
from hybridjobs.cli.follow import FollowOptions
from hybridjobs.cli.parsing import add_command
from hybridjobs.cli.render import Output, duration
from hybridjobs.cli.results import fetch_results, load_results
from hybridjobs.cli.run import build_request, follow_to_end

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

DEMO_DEVICE = "local:pennylane/lightning.qubit"
WARM_UP_SECONDS = 60.0


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "demo",
        help="run a real 2-instance QAOA job end to end (starts a service if needed)",
        description=(
            "Run QAOA for MaxCut on a 6-node graph as a 2-instance hybrid job: each instance "
            "optimises from its own random start on the embedded PennyLane lightning.qubit "
            "simulator and algo-1 keeps the best. Shows the lifecycle events, the instances' "
            "logs and the result. Uses the service at the endpoint if one is running, else "
            "starts an embedded one on a free loopback port (and stops it afterwards)."
        ),
        examples=["hybridjobs demo", "hybridjobs demo --embedded --iterations 50"],
    )
    parser.add_argument(
        "--embedded", action="store_true", help="start an embedded service even if one runs"
    )
    parser.add_argument("--iterations", type=int, default=30, help="optimiser steps (30)")
    parser.add_argument("--instances", type=int, default=2, help="instances, 1-5 (2)")
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the embedded service's data directory"
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("pennylane") is None:
        raise UsageError("the demo runs on PennyLane: pip install 'hybridjobs[pennylane]'")
    if not 1 <= args.instances <= 5:
        raise UsageError("--instances must be between 1 and 5")
    out = Output(colour=args.color)
    endpoint = endpoint_from(args)
    region = region_from(args)
    if not args.embedded and is_healthy(endpoint):
        out.line(f"using the hybridjobs service at {endpoint}")
        return _run_demo(Connection(endpoint, region), out, args)
    if not args.embedded and (args.endpoint or os.environ.get(ENDPOINT_ENV)):
        raise CliError(f"no hybridjobs service answers at {endpoint}", UNREACHABLE)
    data_dir = Path(tempfile.mkdtemp(prefix="hybridjobs-demo-"))
    out.line(out.style(f"starting an embedded hybridjobs service (data in {data_dir})", "dim"))
    try:
        with EmbeddedService(data_dir, stop_grace_seconds=2, warm_pool_size=1) as service:
            out.line(out.style(f"listening on {service.endpoint}", "dim"))
            out.status("warming up the instance pool (imports the Braket SDK and PennyLane)")
            service.wait_warm(WARM_UP_SECONDS)
            return _run_demo(Connection(service.endpoint, region), out, args)
    finally:
        out.line(out.style("embedded service stopped", "dim"))
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run_demo(connection: Connection, out: Output, args: argparse.Namespace) -> int:
    from hybridjobs.cli import demo_qaoa  # the job script; imports numpy

    style = out.style
    started = time.monotonic()
    request_args = argparse.Namespace(
        source=Path(demo_qaoa.__file__),
        entry_point="demo_qaoa:main",
        device=DEMO_DEVICE,
        instances=args.instances,
        instance_type="ml.m5.large",
        volume_gb=30,
        hp=[("iterations", str(args.iterations))],
        input=None,
        checkpoint_uri=None,
        max_runtime=600,
        name=None,
        tag=[("hybridjobs", "demo")],
        data_parallel=True,
        role_arn=None,
        image=None,
    )
    request, _ = build_request(request_args, connection)
    arn = connection.braket.create_job(**request)["jobArn"]
    out.line(
        f"{style('demo', 'bold')}: QAOA for MaxCut on a {demo_qaoa.NODES}-node graph "
        f"({len(demo_qaoa.EDGES)} edges), {args.instances} instances each optimising from "
        f"its own start on {DEMO_DEVICE}; algo-1 keeps the best"
    )
    out.line(f"{style('job', 'bold')} {request['jobName']}  {style(arn, 'dim')}")
    job = connection.get_job(arn)
    code, final = follow_to_end(
        connection, job, out, FollowOptions(hide_setup=True, pretty_metrics=True, metric_every=5)
    )
    wall = time.monotonic() - started
    if final["status"] != "COMPLETED":
        return code
    with tempfile.TemporaryDirectory(prefix="hybridjobs-demo-results-") as scratch:
        data = (
            load_results(Path(scratch)) if fetch_results(connection, final, Path(scratch)) else None
        )
    if data:
        out.line(
            style(
                f"MaxCut: cut {data['cut']} of a maximum {data['max_cut']} "
                f"(partition {data['bitstring']}), expected cut {data['expected_cut']}, "
                f"{data['iterations']} iterations x {args.instances} instances, "
                f"wall time {duration(wall)}",
                "bold",
                "green",
            )
        )
    return code
