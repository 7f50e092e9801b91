"""The warm launcher: instances forked from the warm pool, cold ones when it cannot."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hybridjobs.runners.local import ColdLauncher, InstanceHandle
from hybridjobs.runners.warmpool import WarmPool


class WarmLauncher:
    """A :class:`~hybridjobs.scheduler.context.Launcher`: forks from ``pool`` when the
    instance uses the pool's interpreter and a zygote is available, else ``cold``."""

    def __init__(self, pool: WarmPool, cold: ColdLauncher) -> None:
        self.pool = pool
        self.cold = cold
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
    ) -> InstanceHandle:
        """Start one instance; same contract as the cold launcher's ``launch``."""
        if python == self.pool.python:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            exit_file.unlink(missing_ok=True)
            handle = self.pool.spawn(host, spec_path, env, cwd, log_path, exit_file)
            if handle is not None:
                with self._lock:
                    self.warm_launches += 1
                return handle
        with self._lock:
            self.cold_launches += 1
        return self.cold.launch(host, spec_path, env, cwd, log_path, exit_file, python)

    def status(self) -> dict[str, Any]:
        """The pool's status plus how many launches took each path."""
        status = self.pool.status()
        with self._lock:
            status["launches"] = {"warm": self.warm_launches, "cold": self.cold_launches}
        return status
