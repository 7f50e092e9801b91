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
