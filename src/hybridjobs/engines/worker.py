"""The task worker process: ``python -m hybridjobs.engines.worker``.

It reads framed requests on stdin and writes framed replies on stdout, one task at a time,
for as long as stdin stays open. A frame is a 4-byte big-endian length and a pickle.
Requests are :class:`~hybridjobs.engines.base.EngineRequest`; replies are
``("ok", EngineResult)`` or ``("failed", reason)``. Whatever the simulators print goes to
stderr, never into the reply stream. Only the service starts this process and only the
service writes to it (pickles are trusted in that direction alone).
"""

from __future__ import annotations

import argparse
import os
import pickle
import struct
import sys
from typing import IO, Any

_HEADER = struct.Struct(">I")


def write_frame(stream: IO[bytes], value: Any) -> None:
    """Write ``value`` as one frame and flush."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame's value; ``EOFError`` when the stream ended (between or in a frame)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the stream ended")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a frame")
    return pickle.loads(data)


def handle(request: Any) -> tuple[str, Any]:
    """Run one request; every failure becomes a reason in the task's terms."""
    from hybridjobs.engines import run_request
    from hybridjobs.engines.base import TaskFailed, TaskValidationError

    try:
        return "ok", run_request(request)
    except TaskFailed as exc:
        return "failed", str(exc)
    except TaskValidationError as exc:
        return "failed", f"ValidationException: {exc}"
    except MemoryError:
        return "failed", "The simulation ran out of memory; use fewer qubits."
    except Exception as exc:  # the simulator's own errors are the task's failure
        return "failed", f"The simulator could not run the task: {type(exc).__name__}: {exc}"


_WARM_UP_SOURCE = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"


def warm_up(max_task_memory_bytes: int | None) -> None:
    """Run a Bell circuit on SV1 once, so the first real task finds the simulators
    imported and their caches and compiled kernels ready. A failure is reported on stderr
    (the worker still serves tasks)."""
    import json

    from hybridjobs.devices.simulators import simulator_devices
    from hybridjobs.engines.base import EngineRequest

    sv1 = next(d for d in simulator_devices(max_task_memory_bytes or 2**30) if d.name == "SV1")
    action = json.dumps(
        {
            "braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
            "source": _WARM_UP_SOURCE,
            "inputs": {},
        }
    )
    request = EngineRequest("warm-up", sv1.arn, sv1.engine, action, 10, None, sv1.capabilities_json)
    status, value = handle(request)
    if status != "ok":
        print(f"hybridjobs task worker: the warm-up task failed: {value}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hybridjobs.engines.worker")
    parser.add_argument("--max-task-memory-bytes", type=int, default=None)
    parser.add_argument("--lightning-min-qubits", type=int, default=None)
    parser.add_argument("--no-warm-up", action="store_true")
    args = parser.parse_args(argv)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    requests = sys.stdin.buffer
    from hybridjobs.engines import DEFAULT_LIGHTNING_MIN_QUBITS, EngineConfig, configure

    lightning = args.lightning_min_qubits
    configure(
        EngineConfig(
            max_task_memory_bytes=args.max_task_memory_bytes,
            lightning_min_qubits=DEFAULT_LIGHTNING_MIN_QUBITS if lightning is None else lightning,
        )
    )
    if not args.no_warm_up:
        warm_up(args.max_task_memory_bytes)
    while True:
        try:
            request = read_frame(requests)
        except EOFError:
            return
        write_frame(replies, handle(request))


if __name__ == "__main__":
    main()
