"""What a warm start that sandboxes itself carries (``warmparts.InPlaceSandbox``).

The pool sends its ``command_fields`` in the zygote's ``spawn`` command; the embryo must
read back the same ``bwrap`` command line and the ``cgroup.procs`` of every hierarchy.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hybridjobs.runners.embryo import Order
from hybridjobs.runners.warmparts import InPlaceSandbox
from hybridjobs.sandbox.cgroups import InstanceCgroup


def _spawn_command(sandbox: InPlaceSandbox) -> dict[str, object]:
    command: dict[str, object] = {
        "op": "spawn",
        "spec": "/spec.json",
        "env": {},
        "cwd": "/opt/ml",
        "log": "/log",
        "exit_file": "/exit",
        "python": "python3",
    }
    command.update(sandbox.command_fields())
    decoded: dict[str, object] = json.loads(json.dumps(command))  # the channel's encoding
    return decoded


def test_the_embryo_reads_the_sandbox_and_every_cgroup_procs_file() -> None:
    cgroup = InstanceCgroup(
        1, (Path("/sys/fs/cgroup/memory/hj/a"), Path("/sys/fs/cgroup/pids/hj/a"))
    )
    sandbox = InPlaceSandbox(("bwrap", "--die-with-parent", "--"), cgroup)

    order = Order.from_message(_spawn_command(sandbox))

    assert order.sandbox == ("bwrap", "--die-with-parent", "--")
    assert order.cgroup_procs == (
        "/sys/fs/cgroup/memory/hj/a/cgroup.procs",
        "/sys/fs/cgroup/pids/hj/a/cgroup.procs",
    )


def test_without_a_cgroup_the_instance_joins_none_and_forget_is_a_no_op() -> None:
    sandbox = InPlaceSandbox(("bwrap", "--"))

    order = Order.from_message(_spawn_command(sandbox))

    assert order.cgroup_procs == ()
    sandbox.forget()


def test_it_is_frozen() -> None:
    sandbox = InPlaceSandbox(("bwrap",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sandbox.argv = ()  # type: ignore[misc]
