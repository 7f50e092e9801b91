"""``volumeSizeInGb``: how much disk an instance directory uses, and the failure text."""

from __future__ import annotations

import os
from pathlib import Path


def disk_usage(directory: Path) -> int:
    """Bytes allocated to the files under ``directory`` (``st_blocks``, hard links once;
    symlinks are not followed; entries that vanish while walking are skipped)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(directory)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                total += info.st_blocks * 512
    return total


def volume_exceeded(host: str, used: int, volume_gb: int) -> str:
    """The failure text of an instance whose directory outgrew ``volume_gb``."""
    return (
        f"{host} used {used / 2**30:.2f} GB of disk in /opt/ml, more than its "
        f"instanceConfig.volumeSizeInGb of {volume_gb} GB, and was stopped"
    )
