"""The instance contract: directory layout, config files, clean environment and spec."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from hybridjobs.runners.contract import (
    HOST_VARIABLES,
    InstanceLaunch,
    build_environment,
    checkpoint_dir_for,
    host_names,
    instance_paths,
    load_instance_spec,
    prepare_instance_dirs,
    write_instance_spec,
)

JOB_NAME = "my-job"
BUCKET = "amazon-braket-us-west-2-123456789012"
PREFIX = f"jobs/{JOB_NAME}/1700000000000"


def make_request(**overrides: Any) -> dict[str, Any]:
    """A CreateJob request shaped like the SDK's (spec §3.1)."""
    request: dict[str, Any] = {
        "jobName": JOB_NAME,
        "roleArn": "arn:aws:iam::123456789012:role/service-role/AmazonBraketJobsExecutionRole",
        "algorithmSpecification": {
            "scriptModeConfig": {
                "entryPoint": "algo:start_here",
                "s3Uri": f"s3://{BUCKET}/{PREFIX}/script/source.tar.gz",
                "compressionType": "GZIP",
            }
        },
        "inputDataConfig": [],
        "instanceConfig": {
            "instanceType": "ml.m5.xlarge",
            "volumeSizeInGb": 30,
            "instanceCount": 1,
        },
        "outputDataConfig": {"s3Path": f"s3://{BUCKET}/{PREFIX}/data"},
        "checkpointConfig": {
            "localPath": "/opt/jobs/checkpoints",
            "s3Uri": f"s3://{BUCKET}/{PREFIX}/checkpoints",
        },
        "deviceConfig": {"device": "local:braket/braket.local.qubit"},
        "hyperParameters": {"n": "5", "lr": "0.25", "name": "abc"},
        "stoppingCondition": {"maxRuntimeInSeconds": 432000},
    }
    request.update(overrides)
    return request


def make_launch(
    tmp_path: Path, request: dict[str, Any] | None = None, **overrides: Any
) -> InstanceLaunch:
    fields: dict[str, Any] = {
        "job_arn": "arn:aws:braket:us-west-2:123456789012:job/8d1c7ef0-0000-4000-8000-000000000001",
        "job_name": JOB_NAME,
        "job_id": "8d1c7ef0-0000-4000-8000-000000000001",
        "request": request if request is not None else make_request(),
        "host_index": 1,
        "hosts": ["algo-1"],
        "job_dir": tmp_path / "jobs" / "8d1c7ef0",
        "region": "us-west-2",
        "endpoint_url": "http://127.0.0.1:8750",
        "access_key_id": "AKIAJOBKEY",
        "secret_access_key": "job-secret",
        "job_token": "token-123",
        "master_port": 29500,
        "python": "/opt/venv/bin/python",
        "instance_resources": (4, 16.0, 0),
        "objects": {"kind": "local", "root": str(tmp_path / "objects")},
        "requirements_cache_dir": tmp_path / "reqcache",
    }
    fields.update(overrides)
    return InstanceLaunch(**fields)


def test_host_names() -> None:
    assert host_names(3) == ["algo-1", "algo-2", "algo-3"]


def test_host_index_must_be_in_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host_index"):
        make_launch(tmp_path, host_index=2)


def test_prepare_instance_dirs_writes_the_config_files(tmp_path: Path) -> None:
    request = make_request(
        inputDataConfig=[
            {
                "channelName": "train",
                "contentType": "text/csv",
                "dataSource": {"s3DataSource": {"s3Uri": "s3://b/t"}},
            },
            {"channelName": "test", "dataSource": {"s3DataSource": {"s3Uri": "s3://b/x"}}},
        ]
    )
    launch = make_launch(tmp_path, request, host_index=2, hosts=["algo-1", "algo-2"])
    paths = prepare_instance_dirs(launch)
    instance = launch.job_dir / "instances" / "algo-2"
    assert paths.instance_dir == instance

    def read(name: str) -> Any:
        return json.loads((instance / "input" / "config" / name).read_text())

    assert read("hyperparameters.json") == {"n": "5", "lr": "0.25", "name": "abc"}
    assert read("resourceconfig.json") == {
        "current_host": "algo-2",
        "hosts": ["algo-1", "algo-2"],
        "network_interface_name": "lo",
        "current_instance_type": "ml.m5.xlarge",
        "current_group_name": "homogeneousCluster",
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.xlarge",
                "hosts": ["algo-1", "algo-2"],
            }
        ],
    }
    common = {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    assert read("inputdataconfig.json") == {
        "train": {"ContentType": "text/csv", **common},
        "test": common,
    }
    for relative in (
        "input/data/train",
        "input/data/test",
        "code/customer_code/original",
        "code/customer_code/extracted",
        "model",
        "output/data",
        "output/intermediate",
        "_root/opt/jobs/checkpoints",
        "additional_setup",
    ):
        assert (instance / relative).is_dir(), relative
    assert not paths.failure_file.exists()
    assert paths.failure_file == instance / "output" / "failure"
    assert paths.log_file == launch.job_dir / "logs" / "algo-2.log"
    assert paths.log_file.parent.is_dir() and not paths.log_file.exists()
    assert prepare_instance_dirs(launch) == paths  # idempotent


def test_missing_hyperparameters_give_an_empty_file(tmp_path: Path) -> None:
    request = make_request()
    del request["hyperParameters"]
    paths = prepare_instance_dirs(make_launch(tmp_path, request))
    assert json.loads(paths.hyperparameters_file.read_text()) == {}


@pytest.mark.parametrize(
    ("local_path", "relative"),
    [
        (None, "checkpoints"),
        ("", "checkpoints"),
        ("/opt/braket/checkpoints", "checkpoints"),
        ("/opt/braket/checkpoints/", "checkpoints"),
        ("/opt/ml/checkpoints", "checkpoints"),
        ("/opt/ml/model/ckpt", "model/ckpt"),
        ("/opt/jobs/checkpoints", "_root/opt/jobs/checkpoints"),
        ("/tmp/ckpt", "_root/tmp/ckpt"),
        ("relative/dir", "_root/relative/dir"),
        ("/opt/mlx", "_root/opt/mlx"),
        ("/../../etc/../opt/braket/c", "c"),
        ("/..", "_root"),
    ],
)
def test_checkpoint_path_mapping(tmp_path: Path, local_path: str | None, relative: str) -> None:
    instance = tmp_path / "algo-1"
    mapped = checkpoint_dir_for(instance, local_path)
    assert mapped == instance / relative
    assert mapped.is_relative_to(instance)


def test_default_checkpoint_dir_without_config(tmp_path: Path) -> None:
    request = make_request()
    del request["checkpointConfig"]
    launch = make_launch(tmp_path, request)
    assert instance_paths(launch).checkpoint_dir == launch.job_dir / "instances/algo-1/checkpoints"


def test_environment_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDJOBS_SECRET_TEST", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host")
    monkeypatch.setenv("AWS_PROFILE", "host-profile")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "host-token")
    monkeypatch.setenv("PYTHONPATH", "/host/python/path")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    launch = make_launch(tmp_path)
    env = build_environment(launch, prepare_instance_dirs(launch))
    assert "HYBRIDJOBS_SECRET_TEST" not in env
    assert "host" not in env.values() and "host-token" not in env.values()
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    assert "PYTHONPATH" not in env
    assert env["AWS_SECRET_ACCESS_KEY"] == "job-secret"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAJOBKEY"
    assert env["LANG"] == "C.UTF-8"
    assert env["PATH"] == "/opt/venv/bin:/usr/bin:/bin"
    ours = ("AMZN_BRAKET_", "SM_", "AWS_", "SAGEMAKER_", "PYTHON")
    foreign = {k for k in env if not k.startswith(ours) and k not in HOST_VARIABLES}
    assert foreign <= {"CURRENT_HOST", "BRAKET_ENDPOINT", "BRAKET_PRICE_OFFERS_URL"}
    assert all(isinstance(v, str) for v in env.values())


def test_braket_variables(tmp_path: Path) -> None:
    launch = make_launch(tmp_path)
    paths = prepare_instance_dirs(launch)
    env = build_environment(launch, paths)
    instance = paths.instance_dir
    assert {k: v for k, v in env.items() if k.startswith("AMZN_BRAKET_")} == {
        "AMZN_BRAKET_JOB_NAME": JOB_NAME,
        "AMZN_BRAKET_DEVICE_ARN": "local:braket/braket.local.qubit",
        "AMZN_BRAKET_JOB_RESULTS_DIR": str(instance / "model"),
        "AMZN_BRAKET_CHECKPOINT_DIR": str(instance / "_root/opt/jobs/checkpoints"),
        "AMZN_BRAKET_HP_FILE": str(instance / "input/config/hyperparameters.json"),
        "AMZN_BRAKET_OUT_S3_BUCKET": BUCKET,
        "AMZN_BRAKET_TASK_RESULTS_S3_URI": f"s3://{BUCKET}/jobs/{JOB_NAME}/tasks",
        "AMZN_BRAKET_JOB_RESULTS_S3_PATH": f"s3://{BUCKET}/{PREFIX}/data/output",
        "AMZN_BRAKET_SCRIPT_S3_URI": f"s3://{BUCKET}/{PREFIX}/script/source.tar.gz",
        "AMZN_BRAKET_SCRIPT_ENTRY_POINT": "algo:start_here",
        "AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE": "GZIP",
        "AMZN_BRAKET_JOB_TOKEN": "token-123",
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BRAKET", "BRAKET_ENDPOINT"):
        assert env[name] == "http://127.0.0.1:8750"
    assert (
        env["AWS_ENDPOINT_URL_S3"]
        == env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"]
        == env["AWS_ENDPOINT_URL"]
    )
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-west-2"
    assert env["PYTHONUNBUFFERED"] == env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "OMP_NUM_THREADS" not in env and "MASTER_ADDR" not in env


def test_input_dir_only_with_channels(tmp_path: Path) -> None:
    channel = {"channelName": "input", "dataSource": {"s3DataSource": {"s3Uri": "s3://b/d"}}}
    launch = make_launch(tmp_path, make_request(inputDataConfig=[channel]))
    paths = prepare_instance_dirs(launch)
    env = build_environment(launch, paths)
    assert env["AMZN_BRAKET_INPUT_DIR"] == str(paths.instance_dir / "input" / "data")
    assert env["SM_CHANNELS"] == '["input"]'
    assert env["SM_CHANNEL_INPUT"] == str(paths.instance_dir / "input" / "data" / "input")


def test_sagemaker_variables(tmp_path: Path) -> None:
    request = make_request(
        hyperParameters={"n": "5", "lr": "0.25", "name": "abc", "sagemaker_mpi_enabled": "true"}
    )
    launch = make_launch(tmp_path, request, host_index=2, hosts=["algo-1", "algo-2"])
    paths = prepare_instance_dirs(launch)
    env = build_environment(launch, paths)
    instance = paths.instance_dir
    assert env["SM_HOSTS"] == '["algo-1","algo-2"]'
    assert env["SM_CURRENT_HOST"] == env["CURRENT_HOST"] == "algo-2"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.xlarge"
    assert (env["SM_NUM_CPUS"], env["SM_NUM_GPUS"]) == ("4", "0")
    assert json.loads(env["SM_HPS"]) == {
        "n": 5,
        "lr": 0.25,
        "name": "abc",
    }  # decoded, no sagemaker_*
    assert (env["SM_HP_N"], env["SM_HP_LR"], env["SM_HP_NAME"]) == ("5", "0.25", "abc")
    assert "SM_HP_SAGEMAKER_MPI_ENABLED" not in env
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_mpi_enabled": True}
    assert json.loads(env["SM_USER_ARGS"]) == ["--lr", "0.25", "-n", "5", "--name", "abc"]
    assert env["SM_CHANNELS"] == "[]"
    assert env["SM_INPUT_DIR"] == str(instance / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(instance / "input" / "config")
    assert json.loads(env["SM_INPUT_DATA_CONFIG"]) == {}
    assert env["SM_MODEL_DIR"] == str(instance / "model")
    assert env["SM_OUTPUT_DIR"] == str(instance / "output")
    assert env["SM_OUTPUT_DATA_DIR"] == str(instance / "output" / "data")
    assert env["SM_OUTPUT_INTERMEDIATE_DIR"] == str(instance / "output" / "intermediate")
    assert json.loads(env["SM_RESOURCE_CONFIG"])["current_host"] == "algo-2"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "lo"
    assert env["SM_MODULE_DIR"] == str(instance / "code")
    assert env["SM_USER_ENTRY_POINT"] == "braket_container.py"
    assert env["SM_LOG_LEVEL"] == "20"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["user_entry_point"] == "braket_container.py"
    assert training_env["hosts"] == ["algo-1", "algo-2"] and training_env["is_master"] is False
    assert training_env["job_name"] == f"BraketJob-123456789012-{JOB_NAME}"
    assert env["SAGEMAKER_JOB_NAME"] == training_env["job_name"]
    assert env["SAGEMAKER_REGION"] == "us-west-2"


@pytest.mark.parametrize("flag", ["true", "True", " TRUE "])
def test_data_parallel_variables(tmp_path: Path, flag: str) -> None:
    hps = {
        "sagemaker_distributed_dataparallel_enabled": flag,
        "sagemaker_instance_type": "ml.g6.xlarge",
    }
    hosts = ["algo-1", "algo-2", "algo-3"]
    launch = make_launch(tmp_path, make_request(hyperParameters=hps), host_index=3, hosts=hosts)
    env = build_environment(launch, instance_paths(launch))
    assert {
        k: env[k]
        for k in (
            "MASTER_ADDR",
            "MASTER_PORT",
            "WORLD_SIZE",
            "RANK",
            "LOCAL_RANK",
            "LOCAL_WORLD_SIZE",
        )
    } == {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "3",
        "RANK": "2",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
    }


def test_no_data_parallel_variables_when_disabled(tmp_path: Path) -> None:
    hps = {"sagemaker_distributed_dataparallel_enabled": "false"}
    launch = make_launch(tmp_path, make_request(hyperParameters=hps))
    env = build_environment(launch, instance_paths(launch))
    assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & env.keys()


def test_spec_round_trip(tmp_path: Path) -> None:
    launch = make_launch(tmp_path)
    paths = prepare_instance_dirs(launch)
    env = build_environment(launch, paths)
    spec_file = write_instance_spec(launch, paths, env)
    assert spec_file == paths.instance_dir / "spec.json"
    assert stat.S_IMODE(os.stat(spec_file).st_mode) == 0o600
    spec = load_instance_spec(spec_file)
    assert spec.env == env
    assert spec.host == "algo-1" and spec.job_name == JOB_NAME and spec.job_arn == launch.job_arn
    assert spec.paths.extracted_dir == paths.extracted_dir
    assert spec.paths.original_dir == paths.original_dir
    assert spec.paths.failure_file == paths.failure_file
    assert spec.paths.results_dir == paths.model_dir
    assert spec.paths.checkpoint_dir == paths.checkpoint_dir
    assert spec.paths.exit_file == paths.exit_file
    assert spec.script.s3_uri == f"s3://{BUCKET}/{PREFIX}/script/source.tar.gz"
    assert (spec.script.entry_point, spec.script.compression_type) == ("algo:start_here", "GZIP")
    assert spec.objects == {"kind": "local", "root": str(tmp_path / "objects")}
    assert spec.requirements_cache_dir == tmp_path / "reqcache"
    assert spec.hyperparameters == {"n": "5", "lr": "0.25", "name": "abc"}
    assert spec.argv == ["--lr", "0.25", "-n", "5", "--name", "abc"]


def test_script_falls_back_to_hyperparameters(tmp_path: Path) -> None:
    request = make_request(
        algorithmSpecification={"containerImage": {"uri": "my-image"}},
        hyperParameters={
            "AMZN_BRAKET_SCRIPT_S3_URI": "s3://b/k/algo.py",
            "AMZN_BRAKET_SCRIPT_ENTRY_POINT": "algo",
        },
    )
    launch = make_launch(tmp_path, request)
    paths = prepare_instance_dirs(launch)
    env = build_environment(launch, paths)
    spec = load_instance_spec(write_instance_spec(launch, paths, env))
    assert (spec.script.s3_uri, spec.script.entry_point, spec.script.compression_type) == (
        "s3://b/k/algo.py",
        "algo",
        None,
    )
    assert "AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE" not in env


def test_malformed_spec_is_a_value_error(tmp_path: Path) -> None:
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"version": 1, "env": {}}))
    with pytest.raises(ValueError, match="malformed"):
        load_instance_spec(bad)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version"):
        load_instance_spec(bad)


@pytest.mark.parametrize("name", ["..", ".", "a/b", ""])
def test_unsafe_channel_names_are_refused(tmp_path: Path, name: str) -> None:
    channel = {"channelName": name, "dataSource": {"s3DataSource": {"s3Uri": "s3://b/d"}}}
    launch = make_launch(tmp_path, make_request(inputDataConfig=[channel]))
    with pytest.raises(ValueError, match="channel"):
        instance_paths(launch)
