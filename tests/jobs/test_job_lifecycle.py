"""Jobs that complete: instances, events, results, hyperparameters, inputs, checkpoints."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from jobs.conftest import BUCKET, JobKit, event_types, wait_until

THREE_HOSTS = ["algo-1", "algo-2", "algo-3"]

HOSTS_SCRIPT = """
import json, os, pathlib
host = os.environ["SM_CURRENT_HOST"]
results = pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"])
config_dir = pathlib.Path(os.environ["SM_INPUT_CONFIG_DIR"])
(results / f"host-{host}.txt").write_text(host)
(results / "shared.txt").write_text(f"written by {host}")
(results / "sub").mkdir(exist_ok=True)
seen = {
    "sm_hosts": json.loads(os.environ["SM_HOSTS"]),
    "resourceconfig": json.loads((config_dir / "resourceconfig.json").read_text()),
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("AMZN_BRAKET_", "SM_"))},
}
(results / "sub" / f"{host}.json").write_text(json.dumps(seen))
(results / "results.json").write_text(json.dumps({"host": host}))
print(f"{host} done")
"""


def test_three_instances_results_events_and_billing(jobs: JobKit) -> None:
    job = jobs.run_ok(HOSTS_SCRIPT, instanceConfig={"instanceCount": 3})
    arn = job["jobArn"]

    members = jobs.results(job)
    assert json.loads(members["results.json"]) == {"host": "algo-1"}  # at the root, algo-1 wins
    assert members["shared.txt"] == b"written by algo-1"
    for host in THREE_HOSTS:
        assert members[f"host-{host}.txt"] == host.encode()
        seen = json.loads(members[f"sub/{host}.json"])
        assert seen["sm_hosts"] == THREE_HOSTS
        config = seen["resourceconfig"]
        assert config["current_host"] == host
        assert config["hosts"] == THREE_HOSTS
        assert seen["env"]["SM_CURRENT_HOST"] == host
        # The instance's /opt/ml lives in the data directory, never under the host's /opt.
        instance_dir = jobs.instance_dir(arn, host).resolve()
        assert seen["env"]["AMZN_BRAKET_JOB_RESULTS_DIR"] == str(instance_dir / "model")
        assert Path(seen["cwd"]).resolve() == instance_dir / "code/customer_code/extracted"
        assert seen["env"]["AMZN_BRAKET_JOB_NAME"] == job["jobName"]
        assert seen["env"]["AMZN_BRAKET_DEVICE_ARN"] == job["deviceConfig"]["device"]
        assert seen["env"]["AMZN_BRAKET_OUT_S3_BUCKET"] == BUCKET
    assert set(members) == {
        "results.json",
        "shared.txt",
        *(f"host-{h}.txt" for h in THREE_HOSTS),
        *(f"sub/{h}.json" for h in THREE_HOSTS),
    }

    assert event_types(job) == [
        "QUEUED_FOR_EXECUTION",
        "STARTING_INSTANCE",
        "DOWNLOADING_DATA",
        "RUNNING",
        "UPLOADING_RESULTS",
        "COMPLETED",
    ]
    assert all(e["message"].strip() for e in job["events"]), job["events"]
    times = [e["timeOfEvent"] for e in job["events"]]
    assert times == sorted(times)
    assert "failureReason" not in job

    started, ended = job["startedAt"], job["endedAt"]
    assert job["createdAt"] <= started <= ended
    runtime_ms = (ended - started).total_seconds() * 1000
    assert abs(job["billableDuration"] - 3 * runtime_ms) <= 3 * 5, (
        job["billableDuration"],
        runtime_ms,
    )
    stored = jobs.store.list_log_events(arn, "algo-2")
    assert "algo-2 done" in [e.message for e in stored]
    jobs.assert_no_processes(arn)


HYPERPARAMETERS_PACKAGE = {
    "pkg/__init__.py": "",
    "pkg/train.py": """
import json, os, pathlib

def write(name, value):
    path = pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], name)
    path.write_text(json.dumps(value))

def main(n_qubits: int, learning_rate: float, flag: bool, label, shots: "int" = 1):
    data = pathlib.Path(os.environ["AMZN_BRAKET_INPUT_DIR"])
    write("results.json", {
        "args": [n_qubits, learning_rate, flag, label, shots],
        "types": [type(v).__name__ for v in (n_qubits, learning_rate, flag, label, shots)],
        "train": sorted(p.name for p in (data / "train").iterdir()),
        "a": (data / "train" / "a.txt").read_text(),
        "b": (data / "train" / "nested" / "b.txt").read_text(),
        "config": (data / "config" / "settings.json").read_text(),
        "hp_file": json.loads(pathlib.Path(os.environ["AMZN_BRAKET_HP_FILE"]).read_text()),
        "sm_hp": os.environ["SM_HP_N_QUBITS"],
    })
""",
    "pkg/runme.py": """
import json, os, pathlib, sys
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
    json.dumps({"name": __name__, "argv0": sys.argv[0]}))
""",
}


def _channels(jobs: JobKit) -> list[dict[str, Any]]:
    prefix = f"data/{uuid.uuid4().hex}"
    jobs.put(f"{prefix}/train/a.txt", "alpha")
    jobs.put(f"{prefix}/train/nested/b.txt", "beta")
    jobs.put(f"{prefix}/settings.json", '{"depth": 2}')
    return [
        {
            "channelName": "train",
            "dataSource": {"s3DataSource": {"s3Uri": f"s3://{BUCKET}/{prefix}/train"}},
        },
        {
            "channelName": "config",
            "contentType": "application/json",
            "dataSource": {"s3DataSource": {"s3Uri": f"s3://{BUCKET}/{prefix}/settings.json"}},
        },
    ]


def test_hyperparameters_bound_by_annotation_and_input_channels(jobs: JobKit) -> None:
    job = jobs.run_ok(
        files=HYPERPARAMETERS_PACKAGE,
        entry_point="pkg.train:main",
        hyperParameters={
            "n_qubits": "3",
            "learning_rate": "0.25",
            "flag": "false",
            "label": "7",
            "shots": "100",
        },
        inputDataConfig=_channels(jobs),
    )
    result = jobs.results_json(job)
    assert result["args"] == [3, 0.25, False, "7", 100]
    assert result["types"] == ["int", "float", "bool", "str", "int"]
    assert result["train"] == ["a.txt", "nested"]
    assert (result["a"], result["b"], result["config"]) == ("alpha", "beta", '{"depth": 2}')
    assert result["hp_file"]["n_qubits"] == "3"
    assert result["sm_hp"] == "3"


def test_module_entry_point_runs_as_main(jobs: JobKit) -> None:
    job = jobs.run_ok(files=HYPERPARAMETERS_PACKAGE, entry_point="pkg.runme")
    assert jobs.results_json(job)["name"] == "__main__"


CHECKPOINT_SCRIPT = """
import json, os, pathlib
checkpoints = pathlib.Path(os.environ["AMZN_BRAKET_CHECKPOINT_DIR"])
previous = sorted(p.name for p in checkpoints.rglob("*") if p.is_file())
state = checkpoints / "state" / "step.json"
step = json.loads(state.read_text())["step"] if state.exists() else 0
state.parent.mkdir(parents=True, exist_ok=True)
state.write_text(json.dumps({"step": step + 1}))
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "results.json").write_text(
    json.dumps({"restored": previous, "step": step, "dir": str(checkpoints)}))
"""


def test_checkpoint_of_one_job_is_restored_in_the_next(jobs: JobKit) -> None:
    uri = f"s3://{BUCKET}/checkpoints/run-1"
    config = {"s3Uri": uri, "localPath": "/opt/jobs/checkpoints"}  # the SDK's default

    first = jobs.run_ok(CHECKPOINT_SCRIPT, checkpointConfig=config)
    assert jobs.results_json(first)["restored"] == []
    saved = jobs.objects.get_bytes(BUCKET, "checkpoints/run-1/state/step.json")
    assert json.loads(saved) == {"step": 1}

    second = jobs.run_ok(CHECKPOINT_SCRIPT, checkpointConfig=config)
    result = jobs.results_json(second)
    assert result["restored"] == ["step.json"]
    assert result["step"] == 1
    assert json.loads(jobs.objects.get_bytes(BUCKET, "checkpoints/run-1/state/step.json")) == {
        "step": 2
    }
    # /opt/jobs/checkpoints maps into the instance's directory, not the host's /opt.
    checkpoint_dir = Path(result["dir"]).resolve()
    assert checkpoint_dir.is_relative_to(jobs.instance_dir(second["jobArn"]).resolve())
    assert checkpoint_dir.parts[-3:] == ("opt", "jobs", "checkpoints")


def test_checkpoints_that_cannot_be_restored_are_named_in_the_jobs_log(jobs: JobKit) -> None:
    """S3 holds keys no directory can (a 300-byte name): the job runs with the rest, and
    its own log says what was left out and why (issue 16)."""
    prefix = f"checkpoints/{uuid.uuid4().hex}"
    jobs.objects.put_bytes(BUCKET, f"{prefix}/state/step.json", b'{"step": 4}')
    long_name = "n" * 300
    jobs.objects.put_bytes(BUCKET, f"{prefix}/{long_name}", b"too long a name")

    job = jobs.run_ok(CHECKPOINT_SCRIPT, checkpointConfig={"s3Uri": f"s3://{BUCKET}/{prefix}"})

    assert jobs.results_json(job)["restored"] == ["step.json"]
    said = [
        e.message
        for e in jobs.store.list_log_events(job["jobArn"], "algo-1")
        if e.message.startswith("hybridjobs: checkpoint")
    ]
    assert len(said) == 1, said
    assert long_name in said[0] and "not restored" in said[0], said


CHECKPOINT_THEN_WAIT = """
import os, pathlib, time

def main(release: str):
    checkpoints = pathlib.Path(os.environ["AMZN_BRAKET_CHECKPOINT_DIR"])
    (checkpoints / "progress.json").write_text('{"step": 7}')
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
"""


def test_checkpoints_are_uploaded_while_the_job_runs(jobs: JobKit, tmp_path: Path) -> None:
    release = tmp_path / "release"
    key = f"checkpoints/{uuid.uuid4().hex}"
    arn = jobs.create(
        CHECKPOINT_THEN_WAIT,
        entry_point="waiter:main",
        hyperParameters={"release": str(release)},
        checkpointConfig={"s3Uri": f"s3://{BUCKET}/{key}"},
    )
    try:
        wait_until(
            lambda: (
                jobs.objects.bucket_exists(BUCKET)
                and any(
                    info.key == f"{key}/progress.json" for info in jobs.objects.list(BUCKET, key)
                )
            ),
            what="the checkpoint to be uploaded while the job still runs",
        )
        assert jobs.braket.get_job(jobArn=arn)["status"] == "RUNNING"
    finally:
        release.touch()
    assert jobs.wait(arn)["status"] == "COMPLETED"
