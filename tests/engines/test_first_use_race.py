"""Two threads validating their first tasks on different engines at once (the service's
background warm-up on SV1 and the first CreateQuantumTask on an emulated QPU) must both
succeed: concurrent first imports of the simulators deadlocked in the import system
(``_DeadlockError`` in ``braket.default_simulator``) before validation serialized them.

The race runs in a fresh interpreter, where nothing is imported yet; before the fix it
failed every time (6 of 6 runs)."""

from __future__ import annotations

import subprocess
import sys

RACE = r"""
import threading
from hybridjobs.devices.catalog import load_catalog
from hybridjobs.engines import validate_request
from hybridjobs.engines.base import EngineRequest

catalog = load_catalog(2**33)
sv1 = catalog.get("arn:aws:braket:::device/quantum-simulator/amazon/sv1")
garnet = catalog.get("arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet")
header = '{"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}, '
bell = header + (
    '"source": "OPENQASM 3.0;\\nqubit[2] q;\\nh q[0];\\ncnot q[0], q[1];", "inputs": {}}'
)
native = header + (
    '"source": "OPENQASM 3.0;\\nbit[2] b;\\n#pragma braket verbatim\\nbox{\\n'
    'prx(1.5707963267948966, 0.0) $1;\\ncz $1, $2;\\n}\\nb[0] = measure $1;\\n'
    'b[1] = measure $2;", "inputs": {}}'
)
barrier = threading.Barrier(2)
errors = []

def validate(device, action):
    request = EngineRequest(
        "race", device.arn, device.engine, action, shots=10,
        device_capabilities=device.capabilities_json,
    )
    barrier.wait()
    try:
        validate_request(request)
    except BaseException as error:
        errors.append(repr(error))

threads = [
    threading.Thread(target=validate, args=(sv1, bell)),
    threading.Thread(target=validate, args=(garnet, native)),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(errors or "ok")
"""


def test_first_validations_on_two_engines_at_once_do_not_deadlock() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RACE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok", done.stdout
