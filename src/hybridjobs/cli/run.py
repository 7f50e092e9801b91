"""``hybridjobs run``: pack a script or directory, upload it, create the job, follow it."""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridjobs.cli import pack
from hybridjobs.cli.client import Connection
from hybridjobs.cli.exits import INTERRUPTED, JOB_FAILED, OK, UsageError
from hybridjobs.cli.follow import FollowOptions, JobFollower
from hybridjobs.cli.parsing import add_command, key_value, pairs_to_dict
from hybridjobs.cli.render import Output
from hybridjobs.cli.results import print_outcome

if TYPE_CHECKING:
    from hybridjobs.cli.parsing import Subparsers

DEFAULT_DEVICE = "local:braket/braket.local.qubit"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
SDK_CHECKPOINT_PATH = "/opt/jobs/checkpoints"
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,49}")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "run",
        help="run a script or directory as a hybrid job and follow it",
        description=(
            "Pack SCRIPT_OR_DIR as source.tar.gz (a directory honours its .gitignore files), "
            "upload it and any local --input through S3, create the job, and (by default) "
            "follow it: lifecycle events, the instances' logs (prefixed algo-N), then the "
            "results. Ctrl-C asks whether to cancel the job or detach from it."
        ),
        examples=[
            "hybridjobs run examples/bell/bell.py",
            "hybridjobs run examples/vqe_lightning --entry-point vqe:main --hp stepsize=0.2",
            "hybridjobs run train.py --instances 2 --input train=data.csv --no-wait",
        ],
    )
    parser.add_argument("source", metavar="SCRIPT_OR_DIR", type=Path, help="a .py file or a dir")
    parser.add_argument(
        "--entry-point",
        metavar="MODULE[:FUNC]",
        help="what to run: a module (run as __main__) or module:function; ':func' means "
        "that function of the script (default: the script's module; for a directory, "
        "main.py or its only top-level .py file)",
    )
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=f"default {DEFAULT_DEVICE}")
    parser.add_argument("--instances", type=int, default=1, metavar="N", help="instance count")
    parser.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, metavar="TYPE")
    parser.add_argument("--volume-gb", type=int, default=30, metavar="GB", help=argparse.SUPPRESS)
    parser.add_argument(
        "--hp", action="append", type=key_value, metavar="K=V", help="hyperparameter (repeat)"
    )
    parser.add_argument(
        "--input",
        action="append",
        type=key_value,
        metavar="NAME=PATH_OR_S3",
        help="input channel: a local file/dir (uploaded) or an s3:// URI (repeat)",
    )
    parser.add_argument("--checkpoint-uri", metavar="S3", help="where checkpoints are synced")
    parser.add_argument("--max-runtime", type=int, metavar="S", help="maxRuntimeInSeconds")
    parser.add_argument("--name", help="job name (default: <script name>-<milliseconds>)")
    parser.add_argument("--tag", action="append", type=key_value, metavar="K=V", help="tag")
    parser.add_argument(
        "--data-parallel",
        action="store_true",
        help="set sagemaker_distributed_dataparallel_enabled=true (MASTER_ADDR, RANK, ... env)",
    )
    parser.add_argument("--role-arn", help="roleArn (default: a placeholder role)")
    parser.add_argument(
        "--image",
        metavar="URI",
        help="containerImage.uri: a Braket image (retrieve_image) or one mapped with "
        "`hybridjobs images add` (default: the service's own interpreter)",
    )
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="follow the job until it ends (default) or return once it is created",
    )
    parser.add_argument(
        "--show-setup", action="store_true", help="also show the platform's set-up log lines"
    )
    parser.set_defaults(handler=_run)


def default_entry_point(source: Path, given: str | None) -> str:
    """The entry point for ``source`` (see ``--entry-point``); UsageError if undecidable."""
    if given and not given.startswith(":"):
        return given
    if source.is_file():
        if source.suffix != ".py":
            raise UsageError(f"{source} is not a .py file; pass a script or a directory")
        return source.stem + (given or "")
    if given:
        raise UsageError("--entry-point ':FUNC' needs a script; name the module too: MOD:FUNC")
    if (source / "main.py").is_file():
        return "main"
    scripts = sorted(p.stem for p in source.glob("*.py") if not p.name.startswith("_"))
    if len(scripts) == 1:
        return scripts[0]
    raise UsageError(
        f"{source} holds {len(scripts) or 'no'} top-level scripts"
        + (f" ({', '.join(scripts)})" if scripts else "")
        + "; choose one with --entry-point MODULE[:FUNC]"
    )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def entry_module_file(source: Path, entry_point: str) -> Path | None:
    """The file of the entry point's module inside ``source``, when it is there."""
    module = entry_point.partition(":")[0]
    if source.is_file():
        return source if module == source.stem else None
    candidate = source.joinpath(*module.split(".")).with_suffix(".py")
    return candidate if candidate.is_file() else None


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    operands = [node.test.left, *node.test.comparators]
    return any(isinstance(o, ast.Name) and o.id == "__name__" for o in operands) and any(
        isinstance(o, ast.Constant) and o.value == "__main__" for o in operands
    )


def defines_uncalled_main(code: str) -> bool:
    """Whether module source ``code`` defines a top-level ``main`` that running the module
    never reaches: no ``if __name__ == "__main__":`` block and no top-level statement
    that refers to ``main`` (``main()``, ``sys.exit(main())``, ``asyncio.run(main())``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False  # the job reports it, with the line, as Python would
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if not any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
        for node in tree.body
    ):
        return False
    for node in tree.body:
        if isinstance(node, definitions):
            continue
        if _is_main_guard(node):
            return False
        if any(isinstance(n, ast.Name) and n.id == "main" for n in ast.walk(node)):
            return False
    return True


def uncalled_main_warning(source: Path, entry_point: str) -> str | None:
    """A warning when the entry point runs a module as ``__main__`` that only defines
    ``main``: the job would complete at once, having run nothing."""
    if ":" in entry_point:
        return None
    path = entry_module_file(source, entry_point)
    if path is None:
        return None
    try:
        code = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not defines_uncalled_main(code):
        return None
    option = f"--entry-point {entry_point}:main"
    return (
        f"{path.name} defines main() but nothing in it calls main, and the job runs it as "
        f"a module (python -m {entry_point}): it would end at once, having run nothing. "
        f"Pass {option} to call main (hyperparameters become its keyword arguments), "
        'or add `if __name__ == "__main__": main()` to the script.'
    )


def default_job_name(source: Path, timestamp_ms: int) -> str:
    """``<stem>-<ms>`` with characters the jobName pattern refuses replaced, <= 50 chars."""
    resolved = source.resolve()
    stem = resolved.stem if source.suffix == ".py" or source.is_file() else resolved.name
    cleaned = re.sub(r"[^a-zA-Z0-9]+", "-", stem).strip("-") or "job"
    suffix = f"-{timestamp_ms}"
    return cleaned[: 50 - len(suffix)].rstrip("-") + suffix


def build_request(args: argparse.Namespace, connection: Connection) -> tuple[dict[str, Any], str]:
    """Upload the source and inputs; the CreateJob request and the archive summary."""
    source: Path = args.source
    if not source.exists():
        raise UsageError(f"{source} does not exist")
    if args.instances < 1:
        raise UsageError("--instances must be at least 1")
    entry_point = default_entry_point(source, args.entry_point)
    timestamp_ms = int(time.time() * 1000)
    name = args.name or default_job_name(source, timestamp_ms)
    if not _NAME.fullmatch(name):
        raise UsageError(f"job name {name!r}: use 1-50 letters, digits and inner hyphens")
    hyperparameters = pairs_to_dict(args.hp, "hyperparameter")
    if args.data_parallel:
        hyperparameters["sagemaker_distributed_dataparallel_enabled"] = "true"
        hyperparameters["sagemaker_instance_type"] = args.instance_type
    tags = pairs_to_dict(args.tag, "tag")
    inputs = pairs_to_dict(args.input, "input channel")
    for channel, value in inputs.items():
        if not value.startswith(("s3://", "https://")) and not Path(value).exists():
            raise UsageError(f"input {channel}: {value} does not exist")

    location = pack.JobLocation(pack.default_bucket(connection), name, timestamp_ms)
    pack.ensure_bucket(connection, location.bucket)
    if warning := uncalled_main_warning(source, entry_point):
        _warn(warning)
    files = pack.source_files(source)
    names = [name for _, name in files]
    with tempfile.TemporaryDirectory(prefix="hybridjobs-source-") as scratch:
        archive = Path(scratch, "source.tar.gz")
        pack.write_archive(files, archive)
        size = archive.stat().st_size
        for warning in pack.source_warnings(source, files, size):
            _warn(warning)
        pack.upload_file(connection, archive, location.bucket, location.source_key)
    channels = [
        {
            "channelName": channel,
            "dataSource": {
                "s3DataSource": {
                    "s3Uri": value
                    if value.startswith(("s3://", "https://"))
                    else pack.upload_input(connection, location, channel, Path(value))
                }
            },
        }
        for channel, value in inputs.items()
    ]
    account = connection.account_id()
    request: dict[str, Any] = {
        "clientToken": str(uuid.uuid4()),
        "jobName": name,
        "roleArn": args.role_arn
        or f"arn:aws:iam::{account}:role/service-role/AmazonBraketJobsExecutionRole",
        "algorithmSpecification": {
            "scriptModeConfig": {
                "entryPoint": entry_point,
                "s3Uri": location.uri("script", "source.tar.gz"),
                "compressionType": "GZIP",
            },
            **({"containerImage": {"uri": args.image}} if args.image else {}),
        },
        "inputDataConfig": channels,
        "instanceConfig": {
            "instanceType": args.instance_type,
            "volumeSizeInGb": args.volume_gb,
            "instanceCount": args.instances,
        },
        "outputDataConfig": {"s3Path": location.uri("data")},
        "checkpointConfig": {
            "localPath": SDK_CHECKPOINT_PATH,
            "s3Uri": args.checkpoint_uri or location.uri("checkpoints"),
        },
        "deviceConfig": {"device": args.device},
        "hyperParameters": hyperparameters,
        "tags": tags,
    }
    if args.max_runtime is not None:
        request["stoppingCondition"] = {"maxRuntimeInSeconds": args.max_runtime}
    summary = (
        f"{len(names)} file(s), {size / 1024:.1f} KiB -> "
        f"{request['algorithmSpecification']['scriptModeConfig']['s3Uri']}"
    )
    return request, summary


def _run(args: argparse.Namespace) -> int:
    connection = Connection.from_args(args)
    out = Output(colour=args.color)
    style = out.style
    request, summary = build_request(args, connection)
    arn = connection.braket.create_job(**request)["jobArn"]
    config = request["instanceConfig"]
    out.line(f"{style('job', 'bold')} {style(request['jobName'], 'bold')}  {style(arn, 'dim')}")
    out.line(f"  source   {summary}")
    out.line(
        f"  runs     {request['algorithmSpecification']['scriptModeConfig']['entryPoint']} on "
        f"{config['instanceCount']} x {config['instanceType']}, device {args.device}"
    )
    if not args.wait:
        out.line(f"follow it with: hybridjobs logs -f {request['jobName']}")
        return OK
    job = connection.get_job(arn)
    code, _ = follow_to_end(
        connection, job, out, FollowOptions(hide_setup=not args.show_setup, pretty_metrics=True)
    )
    return code


def follow_to_end(
    connection: Connection, job: dict[str, Any], out: Output, options: FollowOptions
) -> tuple[int, dict[str, Any]]:
    """Follow ``job`` to its end and print the outcome; Ctrl-C offers cancel or detach.

    Returns the exit code and the last GetJob answer. The code is 0 if the job completed,
    1 if it failed or was cancelled, 130 after a Ctrl-C (whether the job was then
    cancelled or left running).
    """
    follower = JobFollower(connection, job, out, options)
    interrupted = False
    while True:
        try:
            final = follower.run()
            break
        except KeyboardInterrupt:
            interrupted = True
            choice = _ask(out, follower.job)
            if choice == "detach":
                out.line(
                    f"detached; {follower.job['jobName']} keeps running. Follow it with: "
                    f"hybridjobs logs -f {follower.job['jobName']}"
                )
                return INTERRUPTED, follower.job
            if choice == "cancel":
                answer = connection.braket.cancel_job(jobArn=follower.job["jobArn"])
                out.line(f"cancel requested: {out.style.status(answer['cancellationStatus'])}")
    print_outcome(connection, final, out)
    if interrupted:
        return INTERRUPTED, final
    return (OK if final["status"] == "COMPLETED" else JOB_FAILED), final


def _ask(out: Output, job: dict[str, Any]) -> str:
    """``cancel``, ``detach`` or ``follow``: asked on a terminal, ``detach`` otherwise."""
    out.clear_status()
    if not sys.stdin.isatty():
        return "detach"
    prompt = (
        f"\n{job['jobName']} is {job['status']}. [c]ancel the job, [d]etach (it keeps "
        "running) or [f]ollow on? [d] "
    )
    try:
        answer = input(prompt).strip().lower()
    except (KeyboardInterrupt, EOFError):
        return "detach"
    if answer.startswith("c"):
        return "cancel"
    if answer.startswith("f"):
        return "follow"
    return "detach"
