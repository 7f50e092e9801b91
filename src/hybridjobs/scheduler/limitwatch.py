"""What a supervisor checks besides exit codes: the instances' memory and disk limits.

* An instance whose cgroup saw the kernel's out-of-memory killer fails with a reason that
  names its instance type and that type's memory (the cgroup's limit).
* ``instanceConfig.volumeSizeInGb``: every :data:`VOLUME_CHECK_SECONDS` the instance
  directories' disk usage is measured; an instance over its volume stops the job with a
  reason naming ``volumeSizeInGb`` (the measure is periodic, so a fast writer may overshoot
  by what it writes in that time).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hybridjobs.runners.contract import InstanceLaunch, InstancePaths
from hybridjobs.runners.local import InstanceHandle
from hybridjobs.sandbox.volume import disk_usage, volume_exceeded

VOLUME_CHECK_SECONDS = 2.0
GB = 2**30


class LimitWatch:
    """The limit checks of one job's instances (``launches`` and ``paths`` in host order)."""

    def __init__(
        self,
        launches: Sequence[InstanceLaunch],
        paths: Sequence[InstancePaths],
        volume_gb: int | None,
    ) -> None:
        self.launches = list(launches)
        self.paths = list(paths)
        self.volume_gb = volume_gb
        self._next_volume_check = time.monotonic() + VOLUME_CHECK_SECONDS

    def memory_text(self, index: int, handle: InstanceHandle) -> str | None:
        """The failure text of instance ``index`` when the OOM killer struck in it."""
        if handle.oom_kills() <= 0:
            return None
        launch = self.launches[min(index, len(self.launches) - 1)]
        memory = launch.instance_resources[1]
        return (
            f"{handle.host} ran out of memory: its processes used all {memory:g} GiB of "
            f"memory of instance type {launch.instance_type} and the kernel's "
            "out-of-memory killer stopped them; choose an instance type with more memory"
        )

    def volume_text(self) -> str | None:
        """The failure text when an instance outgrew ``volumeSizeInGb`` (checked at most
        every :data:`VOLUME_CHECK_SECONDS`), else ``None``."""
        now = time.monotonic()
        if not self.volume_gb or now < self._next_volume_check:
            return None
        self._next_volume_check = now + VOLUME_CHECK_SECONDS
        for launch, paths in zip(self.launches, self.paths, strict=True):
            used = disk_usage(paths.instance_dir)
            if used > self.volume_gb * GB:
                return volume_exceeded(launch.current_host, used, self.volume_gb)
        return None
