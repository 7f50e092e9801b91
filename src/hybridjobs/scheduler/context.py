"""What every part of the scheduler shares: settings, store, objects, identity."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hybridjobs.environments.placement import InstancePlacer
from hybridjobs.jobs.instance_types import InstanceResources
from hybridjobs.jobs.model import Job, JobStatus
from hybridjobs.objects import ObjectStore
from hybridjobs.runners.local import InstanceHandle
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.settings import Settings
from hybridjobs.store.base import JobStore


def new_owner_id() -> str:
    """A scheduler identity: ``host:pid:nonce`` (the pid lets a restart on the same host
    see at once that the previous owner is gone)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str | None) -> bool:
    """Whether ``owner`` certainly no longer runs (same host and its pid is gone)."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Launcher(Protocol):
    """Starts one instance process (cold subprocess, or forked from a warm zygote)."""

    def launch(
        self,
        host: str,
        spec_path: Path,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        python: str,
        box: InstanceBox | None = None,
    ) -> InstanceHandle: ...

    def launch_argv(
        self,
        host: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        exit_file: Path,
        box: InstanceBox | None = None,
    ) -> InstanceHandle:
        """Start ``argv`` itself as the instance (``mpirun ...``), confined with ``box``."""
        ...

    @property
    def isolates(self) -> bool:
        """Whether instances see only their sandbox, at container paths."""
        ...


@dataclass
class SchedulerContext:
    """Shared, thread-safe collaborators of the scheduler and its job supervisors."""

    settings: Settings
    store: JobStore
    objects: ObjectStore
    instance_types: dict[str, InstanceResources]
    launcher: Launcher
    owner: str = field(default_factory=new_owner_id)
    placer: InstancePlacer | None = None
    """Image environments and GPUs of jobs' instances (``None``: configured interpreters)."""
    stopping: threading.Event = field(default_factory=threading.Event)
    detach_on_stop: bool = False
    """Whether a stopping service leaves running jobs' instances running (the next start
    re-attaches to them) instead of stopping them (``--stop-jobs-on-exit``)."""
    job_ended: list[Callable[[str, JobStatus], None]] = field(default_factory=list)
    """Called with a job's ARN and final status once a supervisor has recorded it."""
    stop_checks: list[Callable[[Job], str | None]] = field(default_factory=list)
    """Asked about a running job (as stored now) by its supervisor about once a second: a
    failure reason stops the job (FAILED with that reason), e.g. a spent budget."""
