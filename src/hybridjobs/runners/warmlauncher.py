"""The warm launcher: instances forked from the warm pool, cold ones when it cannot."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hybridjobs.runners.local import ColdLauncher, InstanceHandle
from hybridjobs.runners.warmpool import WarmPool
from hybridjobs.sandbox.box import InstanceBox
from hybridjobs.sandbox.select import Confinement


class InterpreterPools(Protocol):
    """Warm pools of interpreters other than the service's own, started on first use."""

    in_place: Confinement | None
    """The sandbox forked instances make themselves (``None``: none)."""

    def pool_for(self, python: str) -> WarmPool | None: ...

    def status(self) -> dict[str, Any]: ...


class WarmLauncher:
    """A :class:`~hybridjobs.scheduler.context.Launcher`: forks from ``pool`` when the
    instance uses the pool's interpreter and a zygote is available, else ``cold``.

    ``environments``, when given, has the pools of other interpreters (image
    environments: one pool per environment in use, see hybridjobs.environments.pools)."""

    def __init__(
        self,
        pool: WarmPool,
        cold: ColdLauncher,
        environments: InterpreterPools | None = None,
    ) -> None:
        self.pool = pool
        self.cold = cold
        self.environments = environments
        self._lock = threading.Lock()
        self.warm_launches = 0
        self.cold_launches = 0

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
    ) -> InstanceHandle:
        """Start one instance; same contract as the cold launcher's ``launch``. An
        instance that must run in an isolating sandbox forks only from a pool whose
        instances make that sandbox themselves (:mod:`hybridjobs.sandbox.inplace`) or
        from sandboxed zygotes (:mod:`hybridjobs.runners.boxedzygote`), else starts cold."""
        confined = box is not None and self.cold.isolates
        pool = self.pool if python == self.pool.python else None
        environments = self.environments
        if pool is None and environments is not None and (not confined or environments.in_place):
            pool = environments.pool_for(python)
        sandboxes = pool is not None and (pool.boxed is not None or pool.in_place is not None)
        if pool is not None and (not confined or sandboxes):
            log_path.parent.mkdir(parents=True, exist_ok=True)
            exit_file.unlink(missing_ok=True)
            handle = pool.spawn(host, spec_path, env, cwd, log_path, exit_file, box)
            if handle is not None:
                with self._lock:
                    self.warm_launches += 1
                return handle
        with self._lock:
            self.cold_launches += 1
        return self.cold.launch(host, spec_path, env, cwd, log_path, exit_file, python, box)

    @property
    def isolates(self) -> bool:
        """Whether instances see only their sandbox (container paths)."""
        return self.cold.isolates

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
        """Start ``argv`` cold (see :meth:`ColdLauncher.launch_argv`)."""
        return self.cold.launch_argv(host, argv, env, cwd, log_path, exit_file, box)

    def status(self) -> dict[str, Any]:
        """The pool's status plus how many launches took each path (and, with
        ``environments``, their pools' status by interpreter under ``environments``)."""
        status = self.pool.status()
        with self._lock:
            status["launches"] = {"warm": self.warm_launches, "cold": self.cold_launches}
        if self.environments is not None:
            status["environments"] = self.environments.status()
        return status
