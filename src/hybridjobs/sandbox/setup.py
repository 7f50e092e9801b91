"""The confinement of this service's local instances, from its settings.

``auto`` (the default) means the sandbox wherever it can run here, whoever uses the
service. Where it cannot (no bubblewrap, no namespaces), the service says why at start-up
and runs unsandboxed only with ``allow_unsandboxed``, whose default is true only for one
user on loopback (no access keys, listening on loopback only): there the jobs are that
user's own code. ``bwrap`` refuses to start without the sandbox; ``none`` never uses it.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridjobs.sandbox.select import Confinement, choose_sandbox

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shared(settings: Any) -> bool:
    """Whether the service may run other people's code: keys configured, or reachable
    beyond loopback."""
    keys = bool(settings.credentials or getattr(settings, "credentials_file", None))
    return keys or not _loopback(settings.host)


@dataclass(frozen=True)
class SandboxPolicy:
    """What the service asks of every machine that runs its instances (its settings, as
    they travel to a cluster node in each instance's plan)."""

    mode: str = "none"
    allow_unsandboxed: bool = True
    warm_starts: str = "auto"
    pids_max: int = 4096


def policy_for(settings: Any) -> SandboxPolicy:
    """The service's sandbox policy (``allow_unsandboxed`` resolved: see the module
    docstring)."""
    allow = settings.allow_unsandboxed
    if allow is None:
        allow = not shared(settings)
    return SandboxPolicy(
        settings.sandbox,
        bool(allow),
        getattr(settings, "sandbox_warm_starts", "auto"),
        int(settings.sandbox_pids_max),
    )


_NODE_CONFINEMENTS: dict[tuple[SandboxPolicy, tuple[Path, ...]], Confinement] = {}
_NODE_LOCK = threading.Lock()


def confinement_on_node(policy: SandboxPolicy, hidden: Sequence[Path]) -> Confinement:
    """The confinement of instances on this machine (a cluster node) under ``policy``,
    for this process's interpreter, hiding ``hidden`` (the node's working directory);
    found once per process and policy. ``SandboxUnavailable`` as for
    :func:`confinement_for`."""
    key = (policy, tuple(hidden))
    with _NODE_LOCK:
        found = _NODE_CONFINEMENTS.get(key)
        if found is None:
            found = choose_sandbox(
                policy.mode,
                policy.allow_unsandboxed,
                [sys.executable],
                list(hidden),
                warm_starts=policy.warm_starts,
            )
            log.info("job instances on this node: %s", found.summary)
            _NODE_CONFINEMENTS[key] = found
        return found


def confinement_for(settings: Any) -> Confinement:
    """The sandbox and cgroups of every local instance (``SandboxUnavailable`` when the
    sandbox asked for cannot run and running unsandboxed is not allowed)."""
    mode = settings.sandbox
    allow = policy_for(settings).allow_unsandboxed
    pythons = [settings.python_executable, *settings.image_interpreters.values()]
    secrets = (getattr(settings, "credentials_file", None), getattr(settings, "tls_key", None))
    hidden = [settings.data_dir, *(Path(path) for path in secrets if path is not None)]
    warm = getattr(settings, "sandbox_warm_starts", "auto")
    confinement = choose_sandbox(mode, allow, pythons, hidden, warm_starts=warm)
    log.info("job instances: %s", confinement.summary)
    return confinement
