"""A spy job tries what an attacker's job would, on a shared service (access keys
configured, so ``--sandbox auto`` sandboxes): read the server's environment, the database,
another job's files, the object store and the operator's keys. Nothing of it is reachable."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.conftest import ServerPool
from support.server import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

from sandbox.conftest import SENTINEL, SENTINEL_ENV

OPERATOR_SECRET = "hj-operator-secret-93be"

VICTIM = """
import os, pathlib
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "victim.txt").write_text("victim data")
"""

SPY = """
import json, os, pathlib
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
# The secrets come reversed: as given they would be in this job's own SM_HPS variable.
hp["sentinel"], hp["operator"] = hp["sentinel"][::-1], hp["operator"][::-1]
found = {}
for name, path in json.loads(hp["targets"]).items():
    try:
        found[name] = pathlib.Path(path).read_bytes().decode(errors="replace")[:200]
    except OSError as exc:
        found[name] = f"refused: {type(exc).__name__}"
leaks = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        for part in ("environ", "cmdline"):
            try:
                data = pathlib.Path("/proc", entry, part).read_bytes()
            except OSError:
                continue
            if hp["sentinel"].encode() in data or hp["operator"].encode() in data:
                leaks.append(f"/proc/{entry}/{part}")
for root in ("/", "/opt/ml"):
    for directory, _dirs, files in os.walk(root):
        if directory.startswith(("/proc", "/sys", "/usr", "/dev")):
            continue
        for name in files:
            if name == "hybridjobs.db" or name.endswith("credentials.json"):
                leaks.append(os.path.join(directory, name))
found["leaks"] = leaks
found["env_has_secret"] = any(
    hp["sentinel"] in v or hp["operator"] in v for v in os.environ.values())
pathlib.Path("/opt/ml/model/spy.json").write_text(json.dumps(found))
"""


def test_spy_job_reaches_nothing_of_the_host(servers: ServerPool, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(
        json.dumps({DUMMY_ACCESS_KEY: DUMMY_SECRET_KEY, "AKIDOPERATOR2": OPERATOR_SECRET})
    )
    kit = servers.start(
        env={**SENTINEL_ENV, "HYBRIDJOBS_SANDBOX": "auto"},
        extra_args=("--credentials-file", str(credentials)),
    )
    victim = kit.run_ok(VICTIM, hyperParameters={"secret_hp": "victim-hp"})
    victim_dir = kit.instance_dir(victim["jobArn"])
    targets = {
        "server_environ": f"/proc/{kit.server.process.pid}/environ",
        "database": str(kit.data_dir / "hybridjobs.db"),
        "victim_hyperparameters": str(victim_dir / "input" / "config" / "hyperparameters.json"),
        "victim_results": str(victim_dir / "model" / "victim.txt"),
        "victim_spec": str(victim_dir / "spec.json"),
        "victim_tarball": str(kit.results_path(victim)),
        "credentials_file": str(credentials),
        "server_log": str(kit.data_dir / "server.log"),
    }
    spy = kit.run_ok(
        SPY,
        hyperParameters={
            "targets": json.dumps(targets),
            "sentinel": SENTINEL[::-1],
            "operator": OPERATOR_SECRET[::-1],
        },
    )
    found = json.loads(kit.results(spy)["spy.json"])
    for name in targets:
        assert found[name].startswith("refused: "), (name, found[name])
    assert found["leaks"] == [], found["leaks"]
    assert found["env_has_secret"] is False
    # The victim's files are all there on the host: the spy was refused, not unlucky.
    assert (victim_dir / "model" / "victim.txt").read_text() == "victim data"
