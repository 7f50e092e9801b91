"""What a job sees inside the sandbox: a Braket container's paths, and nothing of the host."""

from __future__ import annotations

import json

from jobs.conftest import JobKit

CONTAINER_PATHS = """
import json, os, pathlib, socket
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
pathlib.Path("/opt/braket/model/seen.json").write_text(json.dumps({
    "hp": hp,
    "cwd": os.getcwd(),
    "hostname": socket.gethostname(),
    "results_dir": os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"],
    "hp_file": os.environ["AMZN_BRAKET_HP_FILE"],
    "checkpoints": os.environ["AMZN_BRAKET_CHECKPOINT_DIR"],
    "sm_model_dir": os.environ.get("SM_MODEL_DIR"),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "opt": sorted(os.listdir("/opt")),
    "code": sorted(os.listdir("/opt/ml/code")),
}))
"""


def test_absolute_container_paths_work(jobs: JobKit) -> None:
    job = jobs.run_ok(CONTAINER_PATHS, hyperParameters={"alpha": "0.5"})
    seen = json.loads(jobs.results(job)["seen.json"])
    assert seen["hp"]["alpha"] == "0.5", seen
    assert seen["results_dir"] == "/opt/ml/model"
    assert seen["hp_file"] == "/opt/ml/input/config/hyperparameters.json"
    assert seen["checkpoints"] == "/opt/braket/checkpoints"
    assert seen["sm_model_dir"] == "/opt/ml/model"
    assert seen["hostname"] == "algo-1"
    assert seen["opt"] == ["braket", "ml"]
    assert seen["cwd"].startswith("/opt/ml/"), seen["cwd"]
    # Its own PID namespace: the sandbox's init, the instance and nothing else.
    assert max(seen["pids"]) < 20 and len(seen["pids"]) <= 4, seen["pids"]
