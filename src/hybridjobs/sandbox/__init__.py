"""What a job instance may see and use: a sandbox (bubblewrap, or none) and a cgroup.

* :mod:`~hybridjobs.sandbox.box` — :class:`InstanceBox`, one instance's request: its
  directory (the container's ``/opt/ml`` and ``/opt/braket``), extra binds, host name and
  limits; and the container paths an instance is told about.
* :mod:`~hybridjobs.sandbox.bwrap` — :class:`BwrapSandbox`, the bubblewrap command line.
* :mod:`~hybridjobs.sandbox.cgroups` — one cgroup per instance (v2 or v1): memory limit,
  process-count limit, out-of-memory detection, kill-all.
* :mod:`~hybridjobs.sandbox.select` — choose the sandbox at start-up (``auto``, ``bwrap``,
  ``none``) and refuse to run unsandboxed unless allowed.
* :mod:`~hybridjobs.sandbox.setup` — the service's confinement from its settings
  (``auto`` is the sandbox wherever it can run here), and a node's under the service's
  :class:`~hybridjobs.sandbox.setup.SandboxPolicy` (Ray).
* :mod:`~hybridjobs.sandbox.inplace` — the same sandbox made by a forked warm instance
  itself (warm starts); :mod:`~hybridjobs.sandbox.newroot` — its root file system,
  carried out from the ``bwrap`` command line; :mod:`~hybridjobs.sandbox.linux` — the
  Linux calls they are made of.
* :mod:`~hybridjobs.sandbox.volume` — the disk usage of an instance directory
  (``volumeSizeInGb``).

Who uses them: :mod:`hybridjobs.runners.local` (cold instances),
:mod:`hybridjobs.runners.warmpool` and :mod:`hybridjobs.runners.embryo` (warm
instances that sandbox themselves), :mod:`hybridjobs.runners.boxedzygote` (one-shot
sandboxed zygotes),
:mod:`hybridjobs.runners.boxlayout` (container paths and an instance's box) and
:mod:`hybridjobs.scheduler.limitwatch` (out-of-memory and volume failure reasons).
"""

from hybridjobs.sandbox.box import (
    CONTAINER_ROOT,
    InstanceBox,
    NoSandbox,
    Sandbox,
)
from hybridjobs.sandbox.cgroups import CgroupRoot, InstanceCgroup, detect_cgroups

__all__ = [
    "CONTAINER_ROOT",
    "CgroupRoot",
    "InstanceBox",
    "InstanceCgroup",
    "NoSandbox",
    "Sandbox",
    "detect_cgroups",
]
