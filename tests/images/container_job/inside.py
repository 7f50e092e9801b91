"""Reports the world it runs in (standard library only: the test image has no packages).

Hyperparameter ``hide`` names a host path that must not be visible; ``sleep`` keeps the
instance running (for cancel) after it printed ``CONTAINER-READY``."""

import json
import os
import socket
import sys
import time

with open(os.environ["AMZN_BRAKET_HP_FILE"]) as handle:
    hyperparameters = json.load(handle)
release = {}
try:
    with open("/etc/os-release") as handle:
        release = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
except OSError:
    pass
info = {
    "executable": sys.executable,
    "version": sys.version.split()[0],
    "os": release.get("PRETTY_NAME", "").strip('"'),
    "hostname": socket.gethostname(),
    "cwd": os.getcwd(),
    "hyperparameters_file": os.environ["AMZN_BRAKET_HP_FILE"],
    "host_path_visible": os.path.exists(hyperparameters.get("hide", "/nonexistent")),
    "braket_alias": os.path.isdir("/opt/braket/input"),
}
print("CONTAINER-INFO " + json.dumps(info), flush=True)
with open(os.path.join(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "info.json"), "w") as out:
    json.dump(info, out)
if "sleep" in hyperparameters:
    print("CONTAINER-READY", flush=True)
    time.sleep(float(hyperparameters["sleep"]))
