"""An object store kept in a local directory: ``s3://BUCKET/KEY`` is the file ``ROOT/BUCKET/KEY``.

It holds every key set S3 holds (``a`` beside ``a/b``, folder markers ``a/``, empty
segments, segments longer than a file name may be), and keeps ordinary keys at their plain
path so that jobs and people can read them as files.

Layout. Every name starting with ``.hybridjobs-`` is reserved: no key maps onto one, and a
listing never reports one as a key.

* ``ROOT/BUCKET/KEY`` -- a key whose segments are all non-empty, at most 255 bytes and not
  reserved is the plain file at its path (``ROOT/BUCKET/a/b.txt`` for ``a/b.txt``).
* ``ROOT/BUCKET/a/.hybridjobs-self`` -- object ``a`` while ``a`` is also a directory
  (because ``a/b`` exists). Writing ``a/b`` when ``a`` is a file moves the file there;
  deleting the last key under ``a/`` moves it back to ``ROOT/BUCKET/a``.
* ``.hybridjobs-empty`` -- an empty segment: the folder marker ``a/`` is the file
  ``ROOT/BUCKET/a/.hybridjobs-empty``, ``a//b`` is ``a/.hybridjobs-empty/b`` and ``/x`` is
  ``.hybridjobs-empty/x`` (the rules above apply to it as to any other name).
* ``ROOT/BUCKET/.hybridjobs-keys/`` -- the side area for every other key (a segment over
  255 bytes, a segment starting with ``.hybridjobs-``, or a plain path over 2048 bytes):
  the key's UTF-8 bytes in hex, cut into 200-character directory names, the last piece
  being the file ``<hex>.k``. The path spells the key, so no record is kept beside it.
* ``ROOT/BUCKET/.hybridjobs-tmp-*`` -- content being written (and, briefly, a file being
  moved into or out of its ``.hybridjobs-self`` place); a crashed write may leave one.
* ``ROOT/.hybridjobs-locks/BUCKET`` -- the bucket's lock file (``flock``).

Guarantees, beyond :class:`~hybridjobs.objects.base.ObjectStore`'s:

* Writes are atomic: content goes to a temporary file in the bucket directory, then
  ``os.replace`` puts it in place, so a reader sees the old object or the new one, never
  a partial one. Placing it (making directories, moving a file to ``.hybridjobs-self``)
  and deleting happen under the bucket's exclusive lock, between processes too. Listings
  walk the tree under the shared lock; other reads take no lock, except to look again
  (under the shared lock) when a key was not found, so a key being moved between ``a``
  and ``a/.hybridjobs-self`` is never reported missing.
* Nothing escapes ROOT. Bucket names must match ``[A-Za-z0-9][A-Za-z0-9._-]*``; keys must be
  non-empty, at most 1024 bytes of UTF-8, free of NUL and of ``.`` and ``..`` segments
  (which S3 clients normalise away and no file path can hold). Anything else raises
  :class:`~hybridjobs.objects.base.InvalidObjectName`.
* ETags are the quoted MD5 of the content, computed once per file version (keyed by inode,
  size and mtime) and cached in the instance.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from hybridjobs.objects.base import (
    BucketNotEmpty,
    ByteRange,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStoreError,
    check_byte_range,
)
from hybridjobs.objects.localkeys import (
    BUCKET_NAME,
    LOCKS,
    SELF,
    SIDE,
    TMP_PREFIX,
    plain_names,
    quoted,
    side_path,
    validate_bucket,
    validate_key,
    walk_plain,
    walk_side,
)

_CHUNK = 1 << 20
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)

_T = TypeVar("_T")

Fill = Callable[[BinaryIO], object]
"""A callback that writes an object's content into an open file."""


class LocalObjectStore:
    """Buckets are directories of ``root``; objects are files (see the module docstring for
    the layout). Safe for concurrent use by several threads and processes (writes are
    atomic; last writer wins)."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).absolute()
        self._root.mkdir(parents=True, exist_ok=True)
        self._etags: dict[str, tuple[int, int, int, str]] = {}

    @property
    def root(self) -> Path:
        """The directory holding one subdirectory per bucket."""
        return self._root

    def config(self) -> dict[str, str]:
        """``{"kind": "local", "root": <root>}``."""
        return {"kind": "local", "root": str(self._root)}

    def path_of(self, bucket: str, key: str) -> Path:
        """The file that holds ``key`` now (or where it would go if it were written while
        the tree stays as it is); validates both names."""
        validate_bucket(bucket)
        return self._resolve(self._root / bucket, key, plain_names(validate_key(key)))

    # -- buckets ---------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket directory (idempotent)."""
        validate_bucket(bucket)
        (self._root / bucket).mkdir(exist_ok=True)

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket directory exists (``False`` for invalid names)."""
        return bool(BUCKET_NAME.match(bucket)) and (self._root / bucket).is_dir()

    def list_buckets(self) -> builtins.list[str]:
        """Sorted names of the bucket directories."""
        return sorted(
            entry.name
            for entry in os.scandir(self._root)
            if entry.is_dir(follow_symlinks=False) and BUCKET_NAME.match(entry.name)
        )

    def delete_bucket(self, bucket: str) -> None:
        """Remove an empty bucket (leftover empty directories and temporary files go too)."""
        bucket_dir = self._bucket_dir(bucket)
        if next(self.list(bucket), None) is not None:
            raise BucketNotEmpty(f"bucket {bucket!r} is not empty")
        with self._lock(bucket):
            if next(self.list(bucket, locked=True), None) is not None:
                raise BucketNotEmpty(f"bucket {bucket!r} is not empty")
            shutil.rmtree(bucket_dir, ignore_errors=True)
            # Unlinked while held: a process waiting on this file finds it replaced (see
            # _lock) and looks at the bucket again, so no lock file outlives its bucket.
            (self._root / LOCKS / bucket).unlink(missing_ok=True)

    # -- objects ---------------------------------------------------------------------

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` atomically; creates the bucket if missing."""
        digest = hashlib.md5(data, usedforsecurity=False)
        path, st = self._store(bucket, key, lambda out: out.write(data))
        return self._remember(key, path, st, quoted(digest.hexdigest()))

    def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Store a copy of the file ``path`` atomically; creates the bucket if missing."""
        digest = hashlib.md5(usedforsecurity=False)

        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)

        target, st = self._store(bucket, key, copy)
        return self._remember(key, target, st, quoted(digest.hexdigest()))

    def get_bytes(self, bucket: str, key: str, byte_range: ByteRange | None = None) -> bytes:
        """The content, or an inclusive byte range of it (see the protocol)."""
        with self._open(bucket, key) as src:
            if byte_range is None:
                return src.read()
            check_byte_range(byte_range)
            first, last = byte_range
            size = os.fstat(src.fileno()).st_size
            if first >= size:
                raise InvalidRange(f"range start {first} is past the end of {key!r} ({size})")
            src.seek(first)
            return src.read(size - first if last is None else min(last, size - 1) - first + 1)

    def get_to_file(self, bucket: str, key: str, path: Path) -> None:
        """Copy the object to ``path`` through a temporary file and ``os.replace``."""
        with self._open(bucket, key) as src:
            atomic_write(Path(path), lambda out: shutil.copyfileobj(src, out, _CHUNK))

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Size, mtime and etag of the file."""
        path, st = self._existing(bucket, key)
        return self._info(key, path, st)

    def delete(self, bucket: str, key: str) -> None:
        """Unlink the object's file; prune directories it leaves empty, and move an object
        left alone in its ``.hybridjobs-self`` place back to its plain path."""
        names = plain_names(validate_key(key))
        bucket_dir = self._bucket_dir(bucket)
        with self._lock(bucket):
            path = self._resolve(bucket_dir, key, names)
            try:
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    return
                path.unlink()
            except _MISSING:
                return
            self._etags.pop(str(path), None)
            self._tidy(bucket_dir, path.parent)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> ObjectInfo:
        """Copy the object atomically; creates the destination bucket if missing."""
        digest = hashlib.md5(usedforsecurity=False)
        with self._open(src_bucket, src_key) as src:

            def fill(out: BinaryIO) -> None:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)

            path, st = self._store(dst_bucket, dst_key, fill)
        return self._remember(dst_key, path, st, quoted(digest.hexdigest()))

    def list(self, bucket: str, prefix: str = "", *, locked: bool = False) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, ascending by key. ``locked``: the
        caller already holds the bucket's lock."""
        bucket_dir = self._bucket_dir(bucket)
        found: dict[str, Path] = {}
        directory, sep, _ = prefix.rpartition("/")
        segments = directory.split("/") if sep else []
        names = plain_names(segments)
        # no file is between places during the walk
        with contextlib.nullcontext() if locked else self._lock(bucket, shared=True):
            if names is not None:
                start = bucket_dir.joinpath(*names)
                for key, path in walk_plain(start, segments):
                    if key.startswith(prefix):
                        found[key] = path
            for key, path in walk_side(bucket_dir / SIDE, prefix):
                found.setdefault(key, path)
        return self._infos(bucket, [(key, found[key]) for key in sorted(found)])

    # -- internals -------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        validate_bucket(bucket)
        bucket_dir = self._root / bucket
        if not bucket_dir.is_dir():
            raise NoSuchBucket(f"bucket {bucket!r} does not exist")
        return bucket_dir

    def _resolve(self, bucket_dir: Path, key: str, names: builtins.list[str] | None) -> Path:
        """Where ``key`` (whose plain names are ``names``) is stored, or would be written,
        as the tree is now."""
        if names is None:
            return side_path(bucket_dir, key)
        path = bucket_dir.joinpath(*names)
        return path / SELF if path.is_dir() else path

    @contextlib.contextmanager
    def _lock(self, bucket: str, shared: bool = False) -> Iterator[None]:
        """The bucket's lock (exclusive for changes; shared to read a stable tree). A
        shared lock that cannot be taken (a read-only root) is skipped.

        The lock file is made only while the bucket exists (``NoSuchBucket`` otherwise, also
        when the bucket was deleted while waiting), and :meth:`delete_bucket` removes it, so
        lock files never outnumber buckets. A file unlinked while this waited for it is
        noticed (its inode is no longer the path's) and the lock taken again."""
        path = self._root / LOCKS / bucket
        while True:
            fd: int | None = None
            try:
                self._bucket_dir(bucket)
                (self._root / LOCKS).mkdir(exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except NoSuchBucket:
                raise
            except OSError:
                if not shared:
                    raise
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                    if not _same_file(fd, path):
                        continue  # deleted (and perhaps made again) while we waited
                    self._bucket_dir(bucket)
                yield
                return
            finally:
                if fd is not None:
                    os.close(fd)

    def _read(self, bucket: str, key: str, action: Callable[[Path], _T]) -> _T:
        """``action`` applied to the file of ``key``: first without a lock, then (if the
        file was missing, perhaps while being moved) under the shared lock. Validates both
        names; ``NoSuchBucket`` or ``NoSuchKey`` when there is nothing to read."""
        validate_bucket(bucket)
        names = plain_names(validate_key(key))
        bucket_dir = self._root / bucket
        with contextlib.suppress(*_MISSING):
            return action(self._resolve(bucket_dir, key, names))
        self._bucket_dir(bucket)
        with self._lock(bucket, shared=True), contextlib.suppress(*_MISSING):
            return action(self._resolve(bucket_dir, key, names))
        raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}")

    def _existing(self, bucket: str, key: str) -> tuple[Path, os.stat_result]:
        def regular(path: Path) -> tuple[Path, os.stat_result]:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                raise FileNotFoundError(path)
            return path, st

        return self._read(bucket, key, regular)

    @contextlib.contextmanager
    def _open(self, bucket: str, key: str) -> Iterator[BinaryIO]:
        with self._read(bucket, key, lambda path: open(path, "rb")) as src:
            yield src

    def _store(self, bucket: str, key: str, fill: Fill) -> tuple[Path, os.stat_result]:
        """Write ``key`` through a temporary file in the bucket directory; place it under
        the bucket's lock. Returns the file and its status right after placing it."""
        names = plain_names(validate_key(key))
        self.create_bucket(bucket)
        bucket_dir = self._root / bucket
        fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=bucket_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
            os.chmod(tmp, 0o644)
            with self._lock(bucket):
                try:
                    target = self._prepare(bucket_dir, key, names)
                    os.replace(tmp, target)
                    return target, os.stat(target)
                except OSError as exc:
                    raise ObjectStoreError(
                        f"cannot store key {key!r} in bucket {bucket!r}: {exc}"
                    ) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _prepare(self, bucket_dir: Path, key: str, names: builtins.list[str] | None) -> Path:
        """Make the directories ``key`` needs (moving files that are in the way to their
        ``.hybridjobs-self`` place) and return the file to write. Caller holds the lock."""
        if names is None:
            path = side_path(bucket_dir, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            return path
        directory = bucket_dir
        for name in names[:-1]:
            directory = directory / name
            self._ensure_directory(directory)
        target = directory / names[-1]
        return target / SELF if target.is_dir() else target

    def _ensure_directory(self, path: Path) -> None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            path.mkdir()
            return
        if stat.S_ISDIR(mode) or (stat.S_ISLNK(mode) and path.is_dir()):
            return
        if not stat.S_ISREG(mode):
            raise ObjectStoreError(f"{path} is neither a file nor a directory")
        holder = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=path.parent))
        try:
            os.rename(path, holder / SELF)
        except BaseException:
            holder.rmdir()
            raise
        try:
            os.rename(holder, path)
        except BaseException:
            os.rename(holder / SELF, path)
            holder.rmdir()
            raise
        self._move_etag(path, path / SELF)

    def _tidy(self, bucket_dir: Path, directory: Path) -> None:
        """After a delete: remove the empty directories above it; a directory left holding
        only ``.hybridjobs-self`` becomes that file again. Caller holds the lock."""
        while directory != bucket_dir and directory.is_relative_to(bucket_dir):
            try:
                entries = os.listdir(directory)
            except OSError:
                return
            if not entries:
                try:
                    directory.rmdir()
                except OSError:
                    return
                directory = directory.parent
                continue
            if entries == [SELF]:
                held = directory.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
                os.rename(directory / SELF, held)
                try:
                    directory.rmdir()
                except OSError:
                    os.rename(held, directory / SELF)
                    return
                os.rename(held, directory)
                self._move_etag(directory / SELF, directory)
            return

    def _move_etag(self, old: Path, new: Path) -> None:
        cached = self._etags.pop(str(old), None)
        if cached is not None:
            self._etags[str(new)] = cached

    def _remember(self, key: str, path: Path, st: os.stat_result, etag: str) -> ObjectInfo:
        self._etags[str(path)] = (st.st_ino, st.st_size, st.st_mtime_ns, etag)
        return ObjectInfo(key, st.st_size, st.st_mtime, etag)

    def _info(self, key: str, path: Path, st: os.stat_result | None = None) -> ObjectInfo:
        if st is None:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                raise FileNotFoundError(path)
        cached = self._etags.get(str(path))
        if cached is not None and cached[:3] == (st.st_ino, st.st_size, st.st_mtime_ns):
            return ObjectInfo(key, st.st_size, st.st_mtime, cached[3])
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
        etag = quoted(digest.hexdigest())
        self._etags[str(path)] = (st.st_ino, st.st_size, st.st_mtime_ns, etag)
        return ObjectInfo(key, st.st_size, st.st_mtime, etag)

    def _infos(self, bucket: str, found: builtins.list[tuple[str, Path]]) -> Iterator[ObjectInfo]:
        for key, path in found:
            try:
                yield self._info(key, path)
            except _MISSING:
                try:  # moved (to or from .hybridjobs-self) or deleted since the walk
                    yield self.head(bucket, key)
                except (NoSuchKey, NoSuchBucket):
                    continue


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def atomic_write(path: Path, fill: Fill) -> None:
    """Write ``path`` via a sibling temporary file and ``os.replace``; parents are created.

    A concurrent ``delete`` may prune the parent directory between ``mkdir`` and the
    temporary file's creation, so that step is retried a few times.
    """
    for attempt in range(5):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
            break
        except FileNotFoundError:
            if attempt == 4:
                raise
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
