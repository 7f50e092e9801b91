"""The confinement of this service's local instances, from its settings.

``auto`` means bubblewrap for a shared service (access keys configured, or listening
beyond loopback) and none for one user on loopback, whose jobs are that user's own code
and keep the warm pool's fork-speed starts. Running unsandboxed where a sandbox was asked
for (``bwrap``, or ``auto`` on a shared service) needs ``allow_unsandboxed``, whose default
is true only on loopback without access keys.
"""

from __future__ import annotations

import ipaddress
import logging
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


def confinement_for(settings: Any) -> Confinement:
    """The sandbox and cgroups of every local instance (``SandboxUnavailable`` when the
    sandbox asked for cannot run and running unsandboxed is not allowed)."""
    mode = settings.sandbox
    if mode == "auto" and not shared(settings):
        mode = "none"
    allow = settings.allow_unsandboxed
    if allow is None:
        allow = not shared(settings)
    pythons = [settings.python_executable, *settings.image_interpreters.values()]
    secrets = (getattr(settings, "credentials_file", None), getattr(settings, "tls_key", None))
    hidden = [settings.data_dir, *(Path(path) for path in secrets if path is not None)]
    confinement = choose_sandbox(mode, allow, pythons, hidden)
    log.info("job instances: %s", confinement.summary)
    return confinement
