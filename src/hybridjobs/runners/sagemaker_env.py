"""The SageMaker training toolkit's view of an instance: the ``SM_*`` environment.

What ``sagemaker-training``'s ``Environment.to_env_vars`` gives a script inside a Braket
container (the Braket container runs on that toolkit): ``SM_TRAINING_ENV`` as JSON, one
``SM_<KEY>`` per entry, ``SM_HP_*`` per hyperparameter, ``SM_CHANNEL_*`` per input channel
and ``SM_USER_ARGS``. Pure functions of an instance's launch and paths.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hybridjobs.runners.spec import USER_ENTRY_POINT

if TYPE_CHECKING:
    from hybridjobs.runners.contract import InstanceLaunch, InstancePaths

INSTANCE_GROUP = "homogeneousCluster"
NETWORK_INTERFACE = "lo"


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


def sagemaker_job_name(launch: InstanceLaunch) -> str:
    """``BraketJob-<account>-<jobName>``, as seen in real job logs."""
    parts = launch.job_arn.split(":")
    account = parts[4] if len(parts) > 4 and parts[4] else "000000000000"
    return f"BraketJob-{account}-{launch.job_name}"


def decode_hyperparameter(value: str) -> Any:
    """The toolkit JSON-decodes hyperparameter values when it can (``"5"`` → 5)."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def user_hyperparameters(launch: InstanceLaunch) -> dict[str, Any]:
    return {
        k: decode_hyperparameter(v)
        for k, v in launch.hyperparameters.items()
        if not k.startswith("sagemaker_")
    }


def _env_value(value: Any) -> str:
    """The toolkit's ``mapping.to_env_vars`` value format."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cmd_args(hps: Mapping[str, Any]) -> list[str]:
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


def sagemaker_environment(launch: InstanceLaunch, paths: InstancePaths) -> dict[str, str]:
    """``SM_*`` as the SageMaker training toolkit's ``Environment.to_env_vars`` makes them."""
    vcpus, _memory, gpus = launch.instance_resources
    hosts = list(launch.hosts)
    user_hps = user_hyperparameters(launch)
    framework = {
        k: decode_hyperparameter(v)
        for k, v in launch.hyperparameters.items()
        if k.startswith("sagemaker_")
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
        "job_name": sagemaker_job_name(launch),
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
        user_args=cmd_args(user_hps),
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
