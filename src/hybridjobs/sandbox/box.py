"""One instance's sandbox request, and the protocol every sandbox implements.

An :class:`InstanceBox` says what an instance must see: its instance directory at
``/opt/ml`` (with ``/opt/braket`` a symlink to it, as in the Braket container), more host
directories at container paths (a checkpoint directory outside ``/opt/ml``, the
requirements cache), its host name (``algo-N``) and its limits (memory, process count).
A :class:`Sandbox` turns a command into the command that runs it inside such a box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CONTAINER_ROOT = "/opt/ml"
"""Where an instance's directory appears inside a sandbox."""
CONTAINER_ALIAS = "/opt/braket"
"""A symlink to :data:`CONTAINER_ROOT` inside a sandbox (as in the Braket container)."""
REQUIREMENTS_CACHE = "/var/cache/hybridjobs/requirements"
"""Where the interpreter's requirements cache appears inside a sandbox."""


@dataclass(frozen=True)
class Bind:
    """A host directory shown at ``container`` inside the sandbox (writable or not)."""

    host: Path
    container: str
    writable: bool = True


@dataclass(frozen=True)
class InstanceBox:
    """What one instance sees and may use (see the module docstring).

    ``name`` is unique per instance among the service's instances (the cgroup's name);
    ``memory_bytes`` and ``pids_max`` are ``None`` when unlimited; ``instance_type`` and
    ``memory_gib`` only serve the failure reason of an instance that ran out of memory.
    """

    name: str
    host: str
    instance_dir: Path
    binds: tuple[Bind, ...] = ()
    memory_bytes: int | None = None
    pids_max: int | None = None
    instance_type: str = ""
    memory_gib: float = 0.0
    runtime: tuple[Path, ...] = ()
    """Directories the instance's interpreter needs (its environment and base prefix),
    shown read-only at their own paths where the sandbox does not show them already."""
    devices: tuple[Path, ...] = ()
    """Host device nodes the instance uses at their own paths (a GPU instance's
    ``/dev/nvidia*``), besides the sandbox's minimal ``/dev``."""


class Sandbox(Protocol):
    """Runs commands inside an :class:`InstanceBox`."""

    kind: str
    """``"bwrap"`` or ``"none"``."""
    isolates: bool
    """Whether commands see only their box (container paths) or the whole host."""

    def wrap(
        self, argv: Sequence[str], box: InstanceBox, *, die_with_parent: bool = False
    ) -> list[str]:
        """The command that runs ``argv`` inside ``box`` (its pid is the sandbox's)."""
        ...


class NoSandbox:
    """No isolation: commands run as they are, on the host's paths."""

    kind = "none"
    isolates = False

    def wrap(
        self, argv: Sequence[str], box: InstanceBox, *, die_with_parent: bool = False
    ) -> list[str]:
        return list(argv)
