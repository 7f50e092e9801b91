"""Job start per image environment: CreateJob -> the script's first line, first and warm.

``python -m benchmarks.images --environments-dir DIR [--rounds N]`` starts one service
(warm pool on) whose image environments live in ``DIR`` (built ahead with
``hybridjobs images build``), then, per image, runs a job whose script imports the
image's key packages and prints a ``MARK`` line. Round 1 is the environment's first
instance (a cold start that also starts its pool); later rounds fork from its zygote.
Round 2 on wait until the environment's pool has a ready zygote. Prints a table: image,
first start, warm median (min-max).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from braket.jobs.image_uris import Framework, retrieve_image

from benchmarks.harness import BUCKET, Server, mark
from hybridjobs.environments.images import BASE, KEY_PACKAGES, builtin_environment

SCRIPT = """\
import time
{imports}
print(f"MARK {{time.time()}} {{time.process_time()}}", flush=True)
"""


def measure(server: Server, image: str, rounds: int, python: str | None) -> list[float]:
    """created -> MARK seconds of ``rounds`` jobs on ``image``, one after the other (after
    the first, once ``python``'s pool is ready; ``None``: the service's own pool)."""
    name = builtin_environment(image) or "base"
    imports = "\n".join(f"import {module}" for module in KEY_PACKAGES[name])
    uri = server.put_script(SCRIPT.format(imports=imports))
    seconds = []
    for _ in range(rounds):
        started = time.time()
        arn = server.braket.create_job(
            jobName=f"img-{uuid.uuid4().hex[:10]}",
            roleArn="arn:aws:iam::123456789012:role/bench",
            algorithmSpecification={
                "scriptModeConfig": {"entryPoint": "bench", "s3Uri": uri},
                "containerImage": {"uri": image},
            },
            outputDataConfig={"s3Path": f"s3://{BUCKET}/out/{uuid.uuid4().hex}"},
            instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 30},
            deviceConfig={"device": "local:braket/default"},
        )["jobArn"]
        server.wait(arn, timeout=900)
        seconds.append(mark((server.job_dir(arn) / "logs" / "algo-1.log").read_text())[0] - started)
        if python is not None:
            wait_for_pool(server, python)
    return seconds


def wait_for_pool(server: Server, python: str, timeout: float = 600.0) -> None:
    """Until the environment's pool (started by its first instance) has a ready zygote."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pools = server.status()["warm_pool"].get("environments", {})
        if pools.get(python, {}).get("ready", 0) >= 1:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the pool of {python} did not start:\n{server.status()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--environments-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        server = Server(
            "images",
            Path(work),
            {"HYBRIDJOBS_ENVIRONMENTS_DIR": str(args.environments_dir.resolve())},
        )
        try:
            server.wait_pool()
            print(f"{'image':<12} {'first':>8} {'warm median (min-max)':>24}")
            for framework in Framework:
                image = retrieve_image(framework, "us-west-2")
                name = builtin_environment(image)
                python = None
                if name != BASE:
                    python = str(args.environments_dir.resolve() / str(name) / "bin" / "python")
                times = measure(server, image, args.rounds, python)
                warm = times[1:]
                print(
                    f"{builtin_environment(image):<12} {times[0]:>7.2f}s "
                    f"{statistics.median(warm):>10.2f}s ({min(warm):.2f}-{max(warm):.2f})",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
