"""What one instance of a job sees: its directory tree, config files, environment and spec.

Pure functions of an :class:`InstanceLaunch` (plus the file writes their names say); no
processes. This is the only module that reads ``os.environ``: a job's environment is
built from scratch, keeping just ``PATH, HOME, LANG, LC_ALL, TMPDIR, TZ, USER, LOGNAME``
of the host, so the service's own variables (``HYBRIDJOBS_*``, ``AWS_*``, secrets) never
reach user code.

Layout: ``job_dir/instances/algo-N/`` stands for both ``/opt/ml`` and ``/opt/braket`` of
instance N (in the real container ``/opt/braket`` is a symlink to ``/opt/ml``)::

    algo-N/input/config/{hyperparameters,resourceconfig,inputdataconfig}.json
    algo-N/input/data/<channel>/           filled by the scheduler before the start
    algo-N/code/customer_code/{original,extracted}/
    algo-N/model/                          results dir, tarred to model.tar.gz
    algo-N/output/{data,intermediate}/     and output/failure (written on failure only)
    algo-N/checkpoints/                    default checkpoint dir (see checkpoint_dir_for)
    algo-N/additional_setup/
    algo-N/spec.json                       input of hybridjobs.bootstrap
    algo-N/exit_code                       written by the bootstrap when it ends
    job_dir/logs/algo-N.log                path only; the runner opens it
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridjobs.objects.base import parse_s3_uri
from hybridjobs.runners.sagemaker_env import (
    cmd_args,
    input_data_config,
    resource_config,
    sagemaker_environment,
    sagemaker_job_name,
    user_hyperparameters,
)
from hybridjobs.runners.spec import (
    SPEC_VERSION,
    InstanceSpec,
    ScriptSpec,
    SpecPaths,
    load_instance_spec,
)

__all__ = [
    "InstanceLaunch",
    "InstancePaths",
    "InstanceSpec",
    "ScriptSpec",
    "SpecPaths",
    "build_environment",
    "instance_paths",
    "load_instance_spec",
    "prepare_instance_dirs",
    "write_instance_spec",
]

CONTAINER_ROOTS = ("/opt/ml", "/opt/braket")
DEFAULT_CHECKPOINT_PATH = "/opt/braket/checkpoints"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "LOGNAME")
DATA_PARALLEL_FLAG = "sagemaker_distributed_dataparallel_enabled"
PRICE_LIST_PATH = "/_hybridjobs/pricing/AmazonBraket/index.csv"
"""Where the service serves its price list (AWS Price List bulk CSV, services/usage.py)."""


def host_names(count: int) -> list[str]:
    """``["algo-1", …, "algo-<count>"]``: SageMaker's host names (``algo-1`` is the master)."""
    return [f"algo-{index}" for index in range(1, count + 1)]


@dataclass(frozen=True)
class InstanceLaunch:
    """Everything needed to lay out and describe one instance of one job.

    ``request`` is the CreateJob request as sent (camelCase keys). ``host_index`` is
    1-based into ``hosts``. ``instance_resources`` is ``(vcpus, memory_gib, gpus)`` of the
    instance type. ``objects`` is the object store's ``config()`` (how the bootstrap
    fetches the script). ``python`` is the interpreter that will run the bootstrap.
    """

    job_arn: str
    job_name: str
    job_id: str
    request: Mapping[str, Any]
    host_index: int
    hosts: Sequence[str]
    job_dir: Path
    region: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    job_token: str
    master_port: int
    python: str
    instance_resources: tuple[int, float, int]
    objects: Mapping[str, str]
    requirements_cache_dir: Path
    log_level: int = 20
    master_addr: str = "127.0.0.1"
    """The address of ``algo-1``'s machine (``MASTER_ADDR``): loopback for local
    instances, algo-1's node address on a cluster."""
    node_id: str | None = None
    """The cluster node the instance runs on (``HYBRIDJOBS_NODE_ID``); ``None`` locally."""
    visible_gpus: str | None = None
    """``CUDA_VISIBLE_DEVICES`` of the instance (its own GPUs); ``None``: not set."""
    gpu_twins: bool = False
    """A GPU instance type on CPU: ``HYBRIDJOBS_GPU_TWINS=1`` (see hybridjobs.gputwins)."""
    session_token: str = ""
    """The session token of the job's own credentials (``AWS_SESSION_TOKEN``)."""
    ca_bundle: str = ""
    """The certificate the service's TLS endpoint is verified with (``AWS_CA_BUNDLE``)."""
    archive_limits: Mapping[str, float] | None = None
    """Limits on the code archive (``hybridjobs.archives.ArchiveLimits`` field names);
    ``None``: the defaults."""

    def __post_init__(self) -> None:
        if not 1 <= self.host_index <= len(self.hosts):
            raise ValueError(f"host_index {self.host_index} is not in 1..{len(self.hosts)}")

    @property
    def current_host(self) -> str:
        """This instance's host name (``algo-N``)."""
        return self.hosts[self.host_index - 1]

    @property
    def hyperparameters(self) -> dict[str, str]:
        """The request's hyperparameters, values as strings (``{}`` when absent)."""
        return {str(k): str(v) for k, v in (self.request.get("hyperParameters") or {}).items()}

    @property
    def instance_type(self) -> str:
        """``instanceConfig.instanceType`` (SDK default ``ml.m5.large``)."""
        config = self.request.get("instanceConfig") or {}
        return str(config.get("instanceType") or DEFAULT_INSTANCE_TYPE)

    @property
    def channels(self) -> list[Mapping[str, Any]]:
        """The request's ``inputDataConfig`` entries (``[]`` when absent).

        A channel name that is not a plain directory name (``.``, ``..``, or containing
        ``/``) raises ``ValueError``: it would point outside ``input/data``.
        """
        channels = list(self.request.get("inputDataConfig") or [])
        for channel in channels:
            name = str(channel.get("channelName", ""))
            if name in ("", ".", "..") or "/" in name or "\0" in name:
                raise ValueError(f"unsafe input channel name: {name!r}")
        return channels


@dataclass(frozen=True)
class InstancePaths:
    """Host paths of one instance (``instance_dir`` = its ``/opt/ml`` = its ``/opt/braket``)."""

    instance_dir: Path
    input_dir: Path
    input_config_dir: Path
    hyperparameters_file: Path
    resource_config_file: Path
    input_data_config_file: Path
    input_data_dir: Path
    channel_dirs: dict[str, Path]
    code_dir: Path
    original_dir: Path
    extracted_dir: Path
    model_dir: Path
    output_dir: Path
    failure_file: Path
    output_data_dir: Path
    output_intermediate_dir: Path
    checkpoint_dir: Path
    additional_setup_dir: Path
    spec_file: Path
    exit_file: Path
    log_file: Path

    @property
    def results_dir(self) -> Path:
        """``AMZN_BRAKET_JOB_RESULTS_DIR``: the same directory as ``model_dir``."""
        return self.model_dir


def container_checkpoint_path(local_path: str | None) -> str:
    """``checkpointConfig.localPath`` as a normalised absolute container path (a relative
    one is taken from ``/``; ``..`` cannot climb above ``/``; absent or empty:
    ``/opt/braket/checkpoints``)."""
    container_path = posixpath.normpath("/" + (local_path or DEFAULT_CHECKPOINT_PATH))
    return "/" + container_path.lstrip("/")


def checkpoint_dir_for(instance_dir: Path, local_path: str | None) -> Path:
    """Map the container path ``checkpointConfig.localPath`` to a host directory.

    The path is normalised as an absolute POSIX path (a relative one is taken from ``/``,
    and ``..`` cannot climb above ``/``). Then ``/opt/ml/X`` and ``/opt/braket/X`` map to
    ``instance_dir/X``; every other path ``P`` maps to ``instance_dir/_root/P`` (so the
    SDK's ``/opt/jobs/checkpoints`` becomes ``algo-N/_root/opt/jobs/checkpoints``).
    Absent or empty: ``/opt/braket/checkpoints``, i.e. ``instance_dir/checkpoints``.
    """
    container_path = container_checkpoint_path(local_path)
    for root in CONTAINER_ROOTS:
        if container_path == root or container_path.startswith(root + "/"):
            relative = container_path[len(root) :].strip("/")
            return instance_dir.joinpath(*relative.split("/")) if relative else instance_dir
    relative = container_path.strip("/")
    return (
        instance_dir.joinpath("_root", *relative.split("/")) if relative else instance_dir / "_root"
    )


def instance_paths(launch: InstanceLaunch) -> InstancePaths:
    """Compute (without touching the disk) every path of the instance's layout."""
    instance_dir = Path(launch.job_dir) / "instances" / launch.current_host
    input_dir = instance_dir / "input"
    config_dir = input_dir / "config"
    data_dir = input_dir / "data"
    customer_code = instance_dir / "code" / "customer_code"
    output_dir = instance_dir / "output"
    checkpoint = (launch.request.get("checkpointConfig") or {}).get("localPath")
    return InstancePaths(
        instance_dir=instance_dir,
        input_dir=input_dir,
        input_config_dir=config_dir,
        hyperparameters_file=config_dir / "hyperparameters.json",
        resource_config_file=config_dir / "resourceconfig.json",
        input_data_config_file=config_dir / "inputdataconfig.json",
        input_data_dir=data_dir,
        channel_dirs={
            str(c["channelName"]): data_dir / str(c["channelName"]) for c in launch.channels
        },
        code_dir=instance_dir / "code",
        original_dir=customer_code / "original",
        extracted_dir=customer_code / "extracted",
        model_dir=instance_dir / "model",
        output_dir=output_dir,
        failure_file=output_dir / "failure",
        output_data_dir=output_dir / "data",
        output_intermediate_dir=output_dir / "intermediate",
        checkpoint_dir=checkpoint_dir_for(instance_dir, checkpoint),
        additional_setup_dir=instance_dir / "additional_setup",
        spec_file=instance_dir / "spec.json",
        exit_file=instance_dir / "exit_code",
        log_file=Path(launch.job_dir) / "logs" / f"{launch.current_host}.log",
    )


def prepare_instance_dirs(launch: InstanceLaunch) -> InstancePaths:
    """Create the instance's directories and write its three config files (idempotent).

    ``output/failure`` is not created, and channel directories are left empty.
    """
    paths = instance_paths(launch)
    for directory in (
        paths.input_config_dir,
        paths.input_data_dir,
        *paths.channel_dirs.values(),
        paths.original_dir,
        paths.extracted_dir,
        paths.model_dir,
        paths.output_data_dir,
        paths.output_intermediate_dir,
        paths.checkpoint_dir,
        paths.additional_setup_dir,
        paths.log_file.parent,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    _write_json(paths.hyperparameters_file, launch.hyperparameters)
    _write_json(paths.resource_config_file, resource_config(launch))
    _write_json(paths.input_data_config_file, input_data_config(launch))
    return paths


def script_spec(launch: InstanceLaunch) -> ScriptSpec:
    """``algorithmSpecification.scriptModeConfig``, falling back (like the Braket container)
    to the hyperparameters ``AMZN_BRAKET_SCRIPT_S3_URI`` / ``_ENTRY_POINT`` /
    ``_COMPRESSION_TYPE``."""
    algorithm = launch.request.get("algorithmSpecification") or {}
    config = algorithm.get("scriptModeConfig") or {}
    hps = launch.hyperparameters
    return ScriptSpec(
        s3_uri=config.get("s3Uri") or hps.get("AMZN_BRAKET_SCRIPT_S3_URI"),
        entry_point=config.get("entryPoint") or hps.get("AMZN_BRAKET_SCRIPT_ENTRY_POINT"),
        compression_type=config.get("compressionType")
        or hps.get("AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE"),
    )


def build_environment(launch: InstanceLaunch, paths: InstancePaths) -> dict[str, str]:
    """The complete, clean environment of the instance process (see the module docstring).

    Contains ``AMZN_BRAKET_*`` (spec §4.2), the SageMaker toolkit's ``SM_*`` set,
    ``CURRENT_HOST``/``SAGEMAKER_*``, the job's AWS credentials, region and endpoints
    (all pointing at the service), and, when the ``sagemaker_distributed_dataparallel_
    enabled`` hyperparameter is ``true``, the PyTorch ``MASTER_*``/``RANK``/``WORLD_SIZE``
    variables and the ``smdistributed`` shim on ``PYTHONPATH``; ``CUDA_VISIBLE_DEVICES``
    when the launch names the instance's GPUs, ``HYBRIDJOBS_GPU_TWINS=1`` for a GPU type
    on CPU. Host variables other than ``HOST_VARIABLES`` are never copied.
    """
    env = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
    python_bin = os.path.dirname(launch.python)
    path = env.get("PATH", os.defpath)
    if python_bin and path.split(os.pathsep)[0] != python_bin:
        env["PATH"] = os.pathsep.join([python_bin, path])
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        CURRENT_HOST=launch.current_host,
        SAGEMAKER_JOB_NAME=sagemaker_job_name(launch),
        SAGEMAKER_REGION=launch.region,
        SAGEMAKER_BASE_DIR=str(paths.instance_dir),
    )
    env.update(_aws_environment(launch))
    env.update(_braket_environment(launch, paths))
    env.update(sagemaker_environment(launch, paths))
    if launch.node_id is not None:
        env["HYBRIDJOBS_NODE_ID"] = launch.node_id  # on a cluster: the machine it runs on
    if launch.hyperparameters.get(DATA_PARALLEL_FLAG, "").strip().lower() == "true":
        env.update(
            MASTER_ADDR=launch.master_addr,
            MASTER_PORT=str(launch.master_port),
            WORLD_SIZE=str(len(launch.hosts)),
            RANK=str(launch.host_index - 1),
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
        )
        # smdistributed.dataparallel on top of torch.distributed (hybridjobs/shims).
        shims = str(Path(__file__).resolve().parent.parent / "shims")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [shims, env.get("PYTHONPATH")]))
        env["HYBRIDJOBS_INSTANCE_PATHS"] = shims
    if launch.visible_gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = launch.visible_gpus
    if launch.gpu_twins:
        env["HYBRIDJOBS_GPU_TWINS"] = "1"
    return env


def write_instance_spec(
    launch: InstanceLaunch,
    paths: InstancePaths,
    env: Mapping[str, str],
    view: InstancePaths | None = None,
) -> Path:
    """Write ``algo-N/spec.json`` (mode 0600: it holds the job's credentials); return its path.

    The paths written are those of ``view`` (default ``paths``): inside a sandbox, the
    container paths the instance sees (see :mod:`hybridjobs.runners.boxlayout`).

    Schema (version 1)::

        {"version": 1, "job_arn": str, "job_name": str, "host": "algo-N",
         "env": {str: str},                      # the whole process environment
         "paths": {"instance_dir", "original_dir", "extracted_dir", "failure_file",
                   "results_dir", "checkpoint_dir", "hyperparameters_file",
                   "exit_file"},                 # absolute paths, as strings
         "script": {"s3_uri": str|null, "entry_point": str|null,
                    "compression_type": str|null},
         "objects": {"kind": "local", "root": str} | {"kind": "s3", "region": str,
                                                    "endpoint_url"?: str},
         "requirements_cache_dir": str,
         "hyperparameters": {str: str},
         "argv": [str],                          # toolkit-style --key value user args
         "archive_limits"?: {str: number}}       # ArchiveLimits fields; absent: defaults
    """
    script = script_spec(launch)
    seen = view or paths
    document: dict[str, Any] = {
        "version": SPEC_VERSION,
        "job_arn": launch.job_arn,
        "job_name": launch.job_name,
        "host": launch.current_host,
        "env": dict(env),
        "paths": {
            "instance_dir": str(seen.instance_dir),
            "original_dir": str(seen.original_dir),
            "extracted_dir": str(seen.extracted_dir),
            "failure_file": str(seen.failure_file),
            "results_dir": str(seen.results_dir),
            "checkpoint_dir": str(seen.checkpoint_dir),
            "hyperparameters_file": str(seen.hyperparameters_file),
            "exit_file": str(seen.exit_file),
        },
        "script": {
            "s3_uri": script.s3_uri,
            "entry_point": script.entry_point,
            "compression_type": script.compression_type,
        },
        "objects": dict(launch.objects),
        "requirements_cache_dir": str(launch.requirements_cache_dir),
        "hyperparameters": launch.hyperparameters,
        "argv": cmd_args(user_hyperparameters(launch)),
    }
    if launch.archive_limits is not None:
        document["archive_limits"] = dict(launch.archive_limits)
    paths.spec_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, sort_keys=True)
    return paths.spec_file


# -- helpers -----------------------------------------------------------------------------


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _aws_environment(launch: InstanceLaunch) -> dict[str, str]:
    endpoint = launch.endpoint_url
    return {
        "AWS_ACCESS_KEY_ID": launch.access_key_id,
        "AWS_SECRET_ACCESS_KEY": launch.secret_access_key,
        **({"AWS_SESSION_TOKEN": launch.session_token} if launch.session_token else {}),
        **({"AWS_CA_BUNDLE": launch.ca_bundle} if launch.ca_bundle else {}),
        "AWS_DEFAULT_REGION": launch.region,
        "AWS_REGION": launch.region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_BRAKET": endpoint,
        "BRAKET_ENDPOINT": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": endpoint,
        # The SDK's braket.tracking.Tracker prices tasks from the service's price list.
        "BRAKET_PRICE_OFFERS_URL": endpoint.rstrip("/") + PRICE_LIST_PATH,
    }


def _braket_environment(launch: InstanceLaunch, paths: InstancePaths) -> dict[str, str]:
    request = launch.request
    env = {
        "AMZN_BRAKET_JOB_NAME": launch.job_name,
        "AMZN_BRAKET_DEVICE_ARN": str((request.get("deviceConfig") or {}).get("device", "")),
        "AMZN_BRAKET_JOB_RESULTS_DIR": str(paths.results_dir),
        "AMZN_BRAKET_CHECKPOINT_DIR": str(paths.checkpoint_dir),
        "AMZN_BRAKET_HP_FILE": str(paths.hyperparameters_file),
        "AMZN_BRAKET_JOB_TOKEN": launch.job_token,
    }
    if launch.channels:
        env["AMZN_BRAKET_INPUT_DIR"] = str(paths.input_data_dir)
    s3_path = str((request.get("outputDataConfig") or {}).get("s3Path") or "")
    if s3_path:
        bucket, _ = parse_s3_uri(s3_path)
        env["AMZN_BRAKET_OUT_S3_BUCKET"] = bucket
        env["AMZN_BRAKET_TASK_RESULTS_S3_URI"] = f"s3://{bucket}/jobs/{launch.job_name}/tasks"
        env["AMZN_BRAKET_JOB_RESULTS_S3_PATH"] = s3_path.rstrip("/") + "/output"
    script = script_spec(launch)
    if script.s3_uri:
        env["AMZN_BRAKET_SCRIPT_S3_URI"] = script.s3_uri
    if script.entry_point:
        env["AMZN_BRAKET_SCRIPT_ENTRY_POINT"] = script.entry_point
    if script.compression_type:
        env["AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE"] = script.compression_type
    return env
