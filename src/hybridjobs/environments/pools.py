"""One warm pool per image environment in use (the service's own pool aside).

The first instance of an environment starts cold and starts that environment's pool;
later instances fork from it, as instances of the service's own interpreter do. Each
pool preloads the service pool's modules plus :data:`IMAGE_PRELOAD`, the images' heavy
frameworks (a module an environment lacks is skipped by the zygote), and keeps ``size``
zygotes. Pools stop with the scheduler (this object is one of its companions).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hybridjobs.runners.warmpool import WarmPool
from hybridjobs.sandbox.select import Confinement

IMAGE_PRELOAD = ("torch", "tensorflow", "cudaq")
"""What the Braket images add (seconds to import each): preloaded where installed."""


class EnvironmentPools:
    """The pools of environment interpreters, created on first use; thread-safe."""

    def __init__(
        self,
        size: int,
        preload: Sequence[str],
        log_root: Path,
        in_place: Confinement | None = None,
        *,
        die_with_zygote: bool = False,
    ) -> None:
        self.size = size
        self.die_with_zygote = die_with_zygote
        """Whether forked instances die with their zygote (a Ray node pool's do)."""
        self.in_place = in_place
        """The sandbox forked instances make themselves (``None``: none), as in the
        service's own pool."""
        self.preload = [*preload, *(m for m in IMAGE_PRELOAD if m not in preload)]
        self.log_root = Path(log_root)
        self.on_exit: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._pools: dict[str, WarmPool] = {}
        self._stopped = False

    def pool_for(self, python: str) -> WarmPool | None:
        """The pool of ``python``, started now if it is the first use (``None`` once the
        pools stopped, or when pools are sized 0)."""
        with self._lock:
            if self._stopped or self.size <= 0:
                return None
            pool = self._pools.get(python)
            if pool is None:
                tag = hashlib.sha256(python.encode()).hexdigest()[:12]
                pool = WarmPool(
                    python,
                    self.size,
                    self.preload,
                    self.log_root / tag,
                    on_exit=self.on_exit,
                    in_place=self.in_place,
                    die_with_zygote=self.die_with_zygote,
                )
                self._pools[python] = pool
                pool.start()
            return pool

    def start(self) -> None:
        """Nothing to start ahead: pools start on first use."""

    def stop(self) -> None:
        """Stop every pool (their zygotes end; forked instances keep running)."""
        with self._lock:
            self._stopped = True
            pools = list(self._pools.values())
        for pool in pools:
            pool.stop()

    def status(self) -> dict[str, Any]:
        """Each environment pool's status, by interpreter."""
        with self._lock:
            pools = dict(self._pools)
        return {python: pool.status() for python, pool in pools.items()}
