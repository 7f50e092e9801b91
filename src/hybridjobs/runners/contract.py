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
from hybridjobs.runners.spec import (
    SPEC_VERSION,
    USER_ENTRY_POINT,
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
INSTANCE_GROUP = "homogeneousCluster"
NETWORK_INTERFACE = "lo"
HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "LOGNAME")
DATA_PARALLEL_FLAG = "sagemaker_distributed_dataparallel_enabled"


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


def checkpoint_dir_for(instance_dir: Path, local_path: str | None) -> Path:
    """Map the container path ``checkpointConfig.localPath`` to a host directory.

    The path is normalised as an absolute POSIX path (a relative one is taken from ``/``,
    and ``..`` cannot climb above ``/``). Then ``/opt/ml/X`` and ``/opt/braket/X`` map to
    ``instance_dir/X``; every other path ``P`` maps to ``instance_dir/_root/P`` (so the
    SDK's ``/opt/jobs/checkpoints`` becomes ``algo-N/_root/opt/jobs/checkpoints``).
    Absent or empty: ``/opt/braket/checkpoints``, i.e. ``instance_dir/checkpoints``.
    """
    container_path = posixpath.normpath("/" + (local_path or DEFAULT_CHECKPOINT_PATH))
    container_path = "/" + container_path.lstrip("/")
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


def resource_config(launch: InstanceLaunch) -> dict[str, Any]:
    """The content of ``resourceconfig.json`` for this instance."""
    hosts = list(launch.hosts)
    return {
        "current_host": launch.current_host,
        "current_instance_type": launch.instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": INSTANCE_GROUP,
                "instance_type": launch.instance_type,
                "hosts": hosts,
            }
        ],
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(launch: InstanceLaunch) -> dict[str, dict[str, str]]:
    """The content of ``inputdataconfig.json``: SageMaker's per-channel description."""
    config: dict[str, dict[str, str]] = {}
    for channel in launch.channels:
        entry: dict[str, str] = {}
        if channel.get("contentType"):
            entry["ContentType"] = str(channel["contentType"])
        entry.update(
            TrainingInputMode="File",
            S3DistributionType="FullyReplicated",
            RecordWrapperType="None",
        )
        config[str(channel["channelName"])] = entry
    return config


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
    variables. Host variables other than ``HOST_VARIABLES`` are never copied.
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
        SAGEMAKER_JOB_NAME=_sagemaker_job_name(launch),
        SAGEMAKER_REGION=launch.region,
        SAGEMAKER_BASE_DIR=str(paths.instance_dir),
    )
    env.update(_aws_environment(launch))
    env.update(_braket_environment(launch, paths))
    env.update(_sagemaker_environment(launch, paths))
    if launch.node_id is not None:
        # On a cluster every instance learns where it runs and where algo-1 listens.
        env.update(
            HYBRIDJOBS_NODE_ID=launch.node_id,
            MASTER_ADDR=launch.master_addr,
            MASTER_PORT=str(launch.master_port),
        )
    if launch.hyperparameters.get(DATA_PARALLEL_FLAG, "").strip().lower() == "true":
        env.update(
            MASTER_ADDR=launch.master_addr,
            MASTER_PORT=str(launch.master_port),
            WORLD_SIZE=str(len(launch.hosts)),
            RANK=str(launch.host_index - 1),
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
        )
    return env


def write_instance_spec(
    launch: InstanceLaunch, paths: InstancePaths, env: Mapping[str, str]
) -> Path:
    """Write ``algo-N/spec.json`` (mode 0600: it holds the job's credentials); return its path.

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
         "argv": [str]}                          # toolkit-style --key value user args
    """
    script = script_spec(launch)
    document = {
        "version": SPEC_VERSION,
        "job_arn": launch.job_arn,
        "job_name": launch.job_name,
        "host": launch.current_host,
        "env": dict(env),
        "paths": {
            "instance_dir": str(paths.instance_dir),
            "original_dir": str(paths.original_dir),
            "extracted_dir": str(paths.extracted_dir),
            "failure_file": str(paths.failure_file),
            "results_dir": str(paths.results_dir),
            "checkpoint_dir": str(paths.checkpoint_dir),
            "hyperparameters_file": str(paths.hyperparameters_file),
            "exit_file": str(paths.exit_file),
        },
        "script": {
            "s3_uri": script.s3_uri,
            "entry_point": script.entry_point,
            "compression_type": script.compression_type,
        },
        "objects": dict(launch.objects),
        "requirements_cache_dir": str(launch.requirements_cache_dir),
        "hyperparameters": launch.hyperparameters,
        "argv": _cmd_args(_user_hyperparameters(launch)),
    }
    paths.spec_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, sort_keys=True)
    return paths.spec_file


# -- helpers -----------------------------------------------------------------------------


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _sagemaker_job_name(launch: InstanceLaunch) -> str:
    """``BraketJob-<account>-<jobName>``, as seen in real job logs."""
    parts = launch.job_arn.split(":")
    account = parts[4] if len(parts) > 4 and parts[4] else "000000000000"
    return f"BraketJob-{account}-{launch.job_name}"


def _aws_environment(launch: InstanceLaunch) -> dict[str, str]:
    endpoint = launch.endpoint_url
    return {
        "AWS_ACCESS_KEY_ID": launch.access_key_id,
        "AWS_SECRET_ACCESS_KEY": launch.secret_access_key,
        "AWS_DEFAULT_REGION": launch.region,
        "AWS_REGION": launch.region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_BRAKET": endpoint,
        "BRAKET_ENDPOINT": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": endpoint,
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


def _decode(value: str) -> Any:
    """The toolkit JSON-decodes hyperparameter values when it can (``"5"`` → 5)."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _user_hyperparameters(launch: InstanceLaunch) -> dict[str, Any]:
    return {
        k: _decode(v) for k, v in launch.hyperparameters.items() if not k.startswith("sagemaker_")
    }


def _env_value(value: Any) -> str:
    """The toolkit's ``mapping.to_env_vars`` value format."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _cmd_args(hps: Mapping[str, Any]) -> list[str]:
    """The toolkit's ``mapping.to_cmd_args``: sorted ``--key value`` pairs."""
    args: list[str] = []
    for key in sorted(hps):
        value = hps[key]
        args.append(f"--{key}" if len(key) > 1 else f"-{key}")
        if isinstance(value, Mapping):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append("" if value is None else str(value))
    return args


_SHARED_TOOLKIT_KEYS = (
    "hosts",
    "network_interface_name",
    "user_entry_point",
    "resource_config",
    "input_data_config",
    "output_data_dir",
    "current_host",
    "current_instance_type",
    "current_instance_group",
    "current_instance_group_hosts",
    "instance_groups",
    "instance_groups_dict",
    "distribution_instance_groups",
    "is_hetero",
    "module_name",
    "log_level",
    "input_dir",
    "input_config_dir",
    "output_dir",
    "num_cpus",
    "num_gpus",
    "num_neurons",
    "model_dir",
    "module_dir",
    "output_intermediate_dir",
)
"""Keys whose SM_<KEY> variable carries the same value as SM_TRAINING_ENV's entry."""


def _sagemaker_environment(launch: InstanceLaunch, paths: InstancePaths) -> dict[str, str]:
    """``SM_*`` as the SageMaker training toolkit's ``Environment.to_env_vars`` makes them."""
    vcpus, _memory, gpus = launch.instance_resources
    hosts = list(launch.hosts)
    user_hps = _user_hyperparameters(launch)
    framework = {
        k: _decode(v) for k, v in launch.hyperparameters.items() if k.startswith("sagemaker_")
    }
    channels = {name: str(path) for name, path in paths.channel_dirs.items()}
    group = {"instance_group_name": INSTANCE_GROUP, "instance_type": launch.instance_type}
    training_env: dict[str, Any] = {
        "additional_framework_parameters": framework,
        "channel_input_dirs": channels,
        "current_host": launch.current_host,
        "current_instance_group": INSTANCE_GROUP,
        "current_instance_group_hosts": hosts,
        "current_instance_type": launch.instance_type,
        "distribution_hosts": [],
        "distribution_instance_groups": [],
        "framework_module": None,
        "hosts": hosts,
        "hyperparameters": user_hps,
        "input_config_dir": str(paths.input_config_dir),
        "input_data_config": input_data_config(launch),
        "input_dir": str(paths.input_dir),
        "instance_groups": [INSTANCE_GROUP],
        "instance_groups_dict": {INSTANCE_GROUP: {**group, "hosts": hosts}},
        "is_hetero": False,
        "is_master": launch.host_index == 1,
        "job_name": _sagemaker_job_name(launch),
        "log_level": launch.log_level,
        "master_hostname": hosts[0],
        "model_dir": str(paths.model_dir),
        "module_dir": str(paths.code_dir),
        "module_name": USER_ENTRY_POINT.removesuffix(".py"),
        "network_interface_name": NETWORK_INTERFACE,
        "num_cpus": vcpus,
        "num_gpus": gpus,
        "num_neurons": 0,
        "output_data_dir": str(paths.output_data_dir),
        "output_dir": str(paths.output_dir),
        "output_intermediate_dir": str(paths.output_intermediate_dir),
        "resource_config": resource_config(launch),
        "user_entry_point": USER_ENTRY_POINT,
    }
    values: dict[str, Any] = {key: training_env[key] for key in _SHARED_TOOLKIT_KEYS}
    values.update(
        hps=user_hps,
        framework_params=framework,
        channels=sorted(channels),
        framework_module="",
        training_env=training_env,
        user_args=_cmd_args(user_hps),
    )
    for name, path in channels.items():
        values[f"channel_{name}"] = path
    for key, value in user_hps.items():
        values[f"hp_{key}"] = value
    return {
        f"SM_{key.upper()}": _env_value(value)
        for key, value in values.items()
        if "=" not in key and "\0" not in key
    }
