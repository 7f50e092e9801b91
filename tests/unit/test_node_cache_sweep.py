"""A Ray node sweeps its own requirement caches as the service sweeps its (issue 12): an
install no instance used for the retention age goes, one in use (a shared lock held by
another process) or used recently stays, in the node's own cache and in each image
environment's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hybridjobs import reqcache
from hybridjobs.runners.raynode import sweep_node_caches

DAY = 86400.0


def _entry(cache: Path, name: str, age_days: float) -> Path:
    """A complete cache entry last used ``age_days`` ago."""
    entry = cache / name
    (entry / "site").mkdir(parents=True)
    (entry / "site" / "module.py").write_text("x = 1\n")
    marker = entry / reqcache.MARKER
    marker.touch()
    when = time.time() - age_days * DAY
    os.utime(marker, (when, when))
    return entry


def test_a_node_removes_only_installs_unused_for_the_retention_age(tmp_path: Path) -> None:
    own = tmp_path / "cache" / "requirements"
    image = tmp_path / "cache" / "environment-requirements" / "0123456789ab"
    old = _entry(own, "a" * 64, age_days=10)
    fresh = _entry(own, "b" * 64, age_days=1)
    held = _entry(own, "c" * 64, age_days=10)
    old_image = _entry(image, "d" * 64, age_days=10)
    holder = subprocess.Popen(  # a running instance holds its entry (a shared lock)
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
            "fcntl.flock(f, fcntl.LOCK_SH); print('held', flush=True); time.sleep(60)",
            str(reqcache.lock_path(held)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        removed = sweep_node_caches(tmp_path, days=7)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(removed) == sorted([old, old_image])
    assert not old.exists() and not old_image.exists()
    assert fresh.exists() and held.exists()
    assert sweep_node_caches(tmp_path, days=0) == []  # 0 keeps them forever
