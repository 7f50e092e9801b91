"""The task worker process: ``python -m hybridjobs.engines.worker``.

It reads framed requests on stdin and writes framed replies on stdout, one task at a time,
for as long as stdin stays open. A frame is a 4-byte big-endian length and a pickle.
Requests are :class:`~hybridjobs.engines.base.EngineRequest`; replies are
``("ok", EngineResult)`` or ``("failed", reason)``. Whatever the simulators print goes to
stderr, never into the reply stream. Only the service starts this process and only the
service writes to it (pickles are trusted in that direction alone).
"""

from __future__ import annotations

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


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    requests = sys.stdin.buffer
    import hybridjobs.engines  # noqa: F401 - import before the first task, not during it

    while True:
        try:
            request = read_frame(requests)
        except EOFError:
            return
        write_frame(replies, handle(request))


if __name__ == "__main__":
    main()
