"""The requirements cache's entries and their locks, shared by the instance that uses an
entry (:mod:`hybridjobs.instancecode`) and the retention sweeper that removes old ones.

Layout, under ``DATA_DIR/cache/requirements/<interpreter tag>/``:

* ``<sha256>/`` -- one ``pip install --target`` of a ``requirements.txt``; complete once it
  holds :data:`MARKER`, whose mtime is the entry's last use;
* ``<sha256>.lock`` -- the entry's ``flock`` file: exclusive while installing or removing,
  shared for the whole life of every process that uses the entry;
* ``.<prefix>-*/`` -- a temporary install directory (left behind only by a crash).

A lock file may be unlinked by whoever holds it exclusively (the sweeper removing its
entry); a process that took a lock checks that its file is still the one at the path and
takes it again otherwise (:func:`lock`), so the two never disagree about who holds it.

Stdlib-only: it runs inside instances.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

MARKER = ".hybridjobs-complete"
"""A complete entry holds this file; its mtime is when a job last used the entry."""

_HELD: list[int] = []
"""Shared locks on the entries this process uses, held until it exits."""


def lock_path(entry: Path) -> Path:
    """The lock file of the entry directory ``entry``."""
    return entry.parent / f"{entry.name}.lock"


def lock(path: Path, mode: int) -> int:
    """An open descriptor of the lock file ``path`` (made if missing), locked with
    ``mode`` (``fcntl.LOCK_SH``/``LOCK_EX``, maybe ``| LOCK_NB``: then
    ``BlockingIOError`` when it is held). The caller closes it to release the lock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            if same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # unlinked (and perhaps made again) while we waited: take it again


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """The lock file ``path``, held exclusively for the ``with`` block."""
    fd = lock(path, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def same_file(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def use(entry: Path) -> bool:
    """Whether ``entry`` is complete; if so, it is marked used now and this process holds
    it (a shared lock until it exits) so the sweeper leaves it alone. A cache this
    process cannot write to is used without a lock."""
    try:
        fd = lock(lock_path(entry), fcntl.LOCK_SH)
    except OSError:
        return (entry / MARKER).exists()
    marker = entry / MARKER
    if not marker.exists():
        os.close(fd)
        return False
    with contextlib.suppress(OSError):
        os.utime(marker)
    _HELD.append(fd)
    return True


# -- sweeping ---------------------------------------------------------------------------


def sweep(directory: Path, cutoff: float, dry_run: bool = False) -> list[tuple[Path, int]]:
    """Remove the entries directly under ``directory`` (one interpreter's cache) that no
    instance used since ``cutoff`` (a time stamp) and none holds now, crashed installs'
    temporary directories older than ``cutoff``, and lock files left without an entry;
    return each entry removed (``dry_run``: that would be) with its size in bytes. Used
    by the service's sweeper (:mod:`hybridjobs.retention`) and by each Ray node."""
    removed: list[tuple[Path, int]] = []
    with contextlib.suppress(OSError):
        for entry in sorted(directory.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                size = _sweep_entry(entry, cutoff, dry_run)
                if size is not None:
                    removed.append((entry, size))
            elif entry.suffix == ".lock" and not entry.with_suffix("").exists():
                _drop_lock(entry, cutoff, dry_run)
    return removed


def _sweep_entry(entry: Path, cutoff: float, dry_run: bool) -> int | None:
    """Remove ``entry`` if unused since ``cutoff`` and held by no running instance (a
    crashed install's temporary directory: if older than ``cutoff``); its size, or
    ``None`` when it stays."""
    if entry.name.startswith("."):
        if _last_use(entry) >= cutoff:
            return None
        size = size_of(entry)
        if not dry_run:
            shutil.rmtree(entry, ignore_errors=True)
        return size
    if _last_use(entry) >= cutoff:
        return None
    path = lock_path(entry)
    try:
        fd = lock(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None  # a running instance uses it
    try:
        if _last_use(entry) >= cutoff:
            return None  # used while we took the lock
        size = size_of(entry)
        if not dry_run:
            (entry / MARKER).unlink(missing_ok=True)  # incomplete from now on
            shutil.rmtree(entry, ignore_errors=True)
            path.unlink(missing_ok=True)  # while held: see the module docstring
        return size
    finally:
        os.close(fd)


def _last_use(entry: Path) -> float:
    """When an instance last used the cache entry (its marker's mtime, else the
    directory's)."""
    with contextlib.suppress(OSError):
        return (entry / MARKER).stat().st_mtime
    return entry.stat().st_mtime


def _drop_lock(file: Path, cutoff: float, dry_run: bool) -> None:
    """Remove a cache lock file whose entry is gone, if old and not held."""
    with contextlib.suppress(OSError):
        if dry_run or file.stat().st_mtime >= cutoff:
            return
        fd = lock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            if not file.with_suffix("").exists():
                file.unlink(missing_ok=True)
        finally:
            os.close(fd)


def size_of(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed)."""
    total = 0
    for file in path.rglob("*"):
        try:
            if file.is_file() and not file.is_symlink():
                total += file.lstat().st_size
        except OSError:
            continue
    return total
