"""An instance as a real container vs. the same interpreter as a cold sandboxed process.

``python -m benchmarks containers --image REF [--runtimes podman,docker] [--python PATH]
[--rounds N]`` starts one service with the warm pool off (every instance starts cold) and
maps an image per runtime and one for the host's interpreter:

* ``container (RUNTIME)``: ``hybridjobs images add … --container REF --runtime RUNTIME``
  (Podman or Docker runs each instance as a container of REF, with its own root file
  system and ``python3``; Docker's daemon is the one ``DOCKER_HOST`` names);
* ``process``: ``hybridjobs images add … --python PATH``, an interpreter of the same
  Python release on the host (default ``/usr/bin/python3``), started as a process in the
  service's bubblewrap sandbox.

Then, in turn, ``--rounds`` jobs on each run the same one-line script (standard
library only) and the figure is CreateJob -> the script's first line (``MARK``), plus
CreateJob -> COMPLETED. Neither side preloads anything: both start an interpreter from
scratch; the container side also starts the container (runtime client, conmon, OCI
runtime, mounts). ``--containers-conf`` passes a ``containers.conf`` to Podman (the tests'
host needs runc; see docs/images.md). Prints a markdown table (median, min, max).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import TRIVIAL_SCRIPT, Server, Stat, mark, stat_row, table

CONTAINER_URI = "123456789012.dkr.ecr.us-west-2.amazonaws.com/bench-{runtime}:1"
PROCESS_URI = "123456789012.dkr.ecr.us-west-2.amazonaws.com/bench-process:1"


def _images_add(data_dir: Path, uri: str, *args: str) -> None:
    command = [sys.executable, "-m", "hybridjobs.cli", "images", "add", uri, *args]
    subprocess.run([*command, "--data-dir", str(data_dir)], check=True, capture_output=True)


def _one(server: Server, script_uri: str, image: str) -> tuple[float, float]:
    """(CreateJob -> first line, CreateJob -> COMPLETED) of one job on ``image``."""
    started = time.time()
    arn = server.braket.create_job(
        jobName=f"bench-{time.time_ns()}",
        roleArn="arn:aws:iam::123456789012:role/bench",
        algorithmSpecification={
            "scriptModeConfig": {"entryPoint": "bench", "s3Uri": script_uri},
            "containerImage": {"uri": image},
        },
        outputDataConfig={"s3Path": f"s3://bench/out/{time.time_ns()}"},
        instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
        deviceConfig={"device": "local:braket/default"},
    )["jobArn"]
    server.wait(arn, timeout=300)
    done = time.time()
    first = mark((server.job_dir(arn) / "logs" / "algo-1.log").read_text())[0]
    return first - started, done - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks containers", description=__doc__)
    parser.add_argument("--image", required=True, help="the container image (with python3)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the host interpreter")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--runtimes", default="podman", help="comma-separated container runtimes to compare"
    )
    parser.add_argument("--containers-conf", type=Path, help="CONTAINERS_CONF for Podman")
    args = parser.parse_args(argv)
    env = {"HYBRIDJOBS_WARM_POOL_SIZE": "0"}
    if args.containers_conf is not None:
        env["CONTAINERS_CONF"] = str(args.containers_conf.resolve())
    sides = {
        f"container ({runtime})": CONTAINER_URI.format(runtime=runtime)
        for runtime in args.runtimes.split(",")
    }
    with tempfile.TemporaryDirectory() as work:
        data_dir = Path(work)
        for side, uri in sides.items():
            runtime = side.removeprefix("container (").removesuffix(")")
            _images_add(data_dir, uri, "--container", args.image, "--runtime", runtime)
        _images_add(data_dir, PROCESS_URI, "--python", args.python)
        sides["process"] = PROCESS_URI
        server = Server("containers", data_dir, env)
        try:
            script = server.put_script(TRIVIAL_SCRIPT)
            first = {side: Stat() for side in sides}
            whole = {side: Stat() for side in sides}
            for image in sides.values():
                _one(server, script, image)  # not counted: the first use checks the image
            for _ in range(args.rounds):
                for side, image in sides.items():
                    to_line, to_end = _one(server, script, image)
                    first[side].add(to_line)
                    whole[side].add(to_end)
        finally:
            server.stop()
    rows = [stat_row([side, "first line"], first[side]) for side in first]
    rows += [stat_row([side, "COMPLETED"], whole[side]) for side in whole]
    print(table(["instance", "CreateJob ->", "median", "min", "max", "n"], rows, right_from=2))
    for side in sides:
        if side != "process":
            ratio = first[side].median / first["process"].median
            print(f"\n{side} / process, first line (medians): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
