"""An object store kept in a local directory: ``s3://BUCKET/KEY`` is the file ``ROOT/BUCKET/KEY``.

Guarantees, beyond :class:`~hybridjobs.objects.base.ObjectStore`'s:

* Writes are atomic: content goes to a temporary file in the destination directory, then
  ``os.replace`` puts it in place, so a reader sees the old object or the new one, never
  a partial one. Temporary files start with ``.hybridjobs-tmp-`` and are never listed.
* Nothing escapes ROOT. Bucket names must match ``[A-Za-z0-9][A-Za-z0-9._-]*``; keys must
  be non-empty, relative, free of NUL, and made of non-empty segments other than ``.`` and
  ``..`` (so no ``//`` and no trailing ``/``). Anything else raises
  :class:`~hybridjobs.objects.base.InvalidObjectName`.
* Because keys are paths, ``a`` and ``a/b`` cannot both be objects (S3 allows it); the
  second write raises :class:`~hybridjobs.objects.base.ObjectStoreError`.
* ETags are the quoted MD5 of the content, computed once per file version (keyed by inode,
  size and mtime) and cached in the instance.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from hybridjobs.objects.base import (
    BucketNotEmpty,
    ByteRange,
    InvalidObjectName,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStoreError,
    check_byte_range,
)

_TMP_PREFIX = ".hybridjobs-tmp-"
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_MAX_KEY_BYTES = 1024
_CHUNK = 1 << 20

Fill = Callable[[BinaryIO], object]
"""A callback that writes an object's content into an open file."""


def validate_key(key: str) -> builtins.list[str]:
    """Return the key's path segments, or raise ``InvalidObjectName`` saying why it is unsafe."""
    if not key:
        raise InvalidObjectName("object key is empty")
    if "\0" in key:
        raise InvalidObjectName(f"object key contains NUL: {key!r}")
    if key.startswith("/"):
        raise InvalidObjectName(f"object key is absolute: {key!r}")
    if len(key.encode("utf-8", "surrogateescape")) > _MAX_KEY_BYTES:
        raise InvalidObjectName(f"object key is longer than {_MAX_KEY_BYTES} bytes")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidObjectName(f"object key has an empty, '.' or '..' segment: {key!r}")
        if segment.startswith(_TMP_PREFIX):
            raise InvalidObjectName(f"object key uses the reserved prefix {_TMP_PREFIX!r}")
    return segments


def validate_bucket(bucket: str) -> None:
    """Raise ``InvalidObjectName`` unless ``bucket`` is a safe bucket directory name."""
    if not _BUCKET_NAME.match(bucket):
        raise InvalidObjectName(f"invalid bucket name: {bucket!r}")


def _quoted(hexdigest: str) -> str:
    return f'"{hexdigest}"'


class LocalObjectStore:
    """Buckets are directories of ``root``; objects are files. Safe for concurrent use by
    several threads and processes (writes are atomic; last writer wins)."""

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
        """The file that holds (or would hold) ``key``; validates both names."""
        validate_bucket(bucket)
        return self._root.joinpath(bucket, *validate_key(key))

    # -- buckets ---------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket directory (idempotent)."""
        validate_bucket(bucket)
        (self._root / bucket).mkdir(exist_ok=True)

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket directory exists (``False`` for invalid names)."""
        return bool(_BUCKET_NAME.match(bucket)) and (self._root / bucket).is_dir()

    def list_buckets(self) -> builtins.list[str]:
        """Sorted names of the bucket directories."""
        return sorted(
            entry.name
            for entry in os.scandir(self._root)
            if entry.is_dir(follow_symlinks=False) and _BUCKET_NAME.match(entry.name)
        )

    def delete_bucket(self, bucket: str) -> None:
        """Remove an empty bucket (leftover empty directories and temporary files go too)."""
        bucket_dir = self._bucket_dir(bucket)
        try:
            bucket_dir.rmdir()
        except OSError:
            if next(self.list(bucket), None) is not None:
                raise BucketNotEmpty(f"bucket {bucket!r} is not empty") from None
            shutil.rmtree(bucket_dir)

    # -- objects ---------------------------------------------------------------------

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` atomically; creates the bucket if missing."""
        digest = hashlib.md5(data, usedforsecurity=False)
        path = self._write(bucket, key, lambda out: out.write(data))
        return self._remember(key, path, _quoted(digest.hexdigest()))

    def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Store a copy of the file ``path`` atomically; creates the bucket if missing."""
        digest = hashlib.md5(usedforsecurity=False)

        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)

        target = self._write(bucket, key, copy)
        return self._remember(key, target, _quoted(digest.hexdigest()))

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
        path = self._existing(bucket, key)
        return self._info(key, path)

    def delete(self, bucket: str, key: str) -> None:
        """Unlink the file and prune directories it leaves empty."""
        path = self.path_of(bucket, key)
        bucket_dir = self._bucket_dir(bucket)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except PermissionError:
            if path.is_dir():  # some platforms report EPERM for unlink on a directory
                return
            raise
        parent = path.parent
        while parent != bucket_dir:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> ObjectInfo:
        """Copy the file atomically; creates the destination bucket if missing."""
        return self.put_file(dst_bucket, dst_key, self._existing(src_bucket, src_key))

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, ascending by key."""
        bucket_dir = self._bucket_dir(bucket)
        directory, _, _ = prefix.rpartition("/")
        start = bucket_dir
        if directory:
            try:
                start = bucket_dir.joinpath(*validate_key(directory))
            except InvalidObjectName:
                return iter(())  # no stored key can have this prefix
        keys = sorted(key for key in _walk(start, directory) if key.startswith(prefix))
        return self._infos(bucket_dir, keys)

    # -- internals -------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        validate_bucket(bucket)
        bucket_dir = self._root / bucket
        if not bucket_dir.is_dir():
            raise NoSuchBucket(f"bucket {bucket!r} does not exist")
        return bucket_dir

    def _existing(self, bucket: str, key: str) -> Path:
        path = self.path_of(bucket, key)
        if path.is_file():
            return path
        self._bucket_dir(bucket)
        raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}")

    @contextlib.contextmanager
    def _open(self, bucket: str, key: str) -> Iterator[BinaryIO]:
        path = self.path_of(bucket, key)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self._bucket_dir(bucket)
            raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}") from None
        with src:
            yield src

    def _write(self, bucket: str, key: str, fill: Fill) -> Path:
        path = self.path_of(bucket, key)
        self.create_bucket(bucket)
        try:
            atomic_write(path, fill)
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            raise ObjectStoreError(
                f"key {key!r} clashes with another key in bucket {bucket!r} "
                "(a local store cannot hold both 'a' and 'a/…')"
            ) from exc
        return path

    def _remember(self, key: str, path: Path, etag: str) -> ObjectInfo:
        st = path.stat()
        self._etags[str(path)] = (st.st_ino, st.st_size, st.st_mtime_ns, etag)
        return ObjectInfo(key, st.st_size, st.st_mtime, etag)

    def _info(self, key: str, path: Path) -> ObjectInfo:
        st = path.stat()
        cached = self._etags.get(str(path))
        if cached is not None and cached[:3] == (st.st_ino, st.st_size, st.st_mtime_ns):
            return ObjectInfo(key, st.st_size, st.st_mtime, cached[3])
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
        etag = _quoted(digest.hexdigest())
        self._etags[str(path)] = (st.st_ino, st.st_size, st.st_mtime_ns, etag)
        return ObjectInfo(key, st.st_size, st.st_mtime, etag)

    def _infos(self, bucket_dir: Path, keys: builtins.list[str]) -> Iterator[ObjectInfo]:
        for key in keys:
            try:
                yield self._info(key, bucket_dir.joinpath(*key.split("/")))
            except (FileNotFoundError, NotADirectoryError):
                continue  # deleted since the directory walk


def atomic_write(path: Path, fill: Fill) -> None:
    """Write ``path`` via a sibling temporary file and ``os.replace``; parents are created.

    A concurrent ``delete`` may prune the parent directory between ``mkdir`` and the
    temporary file's creation, so that step is retried a few times.
    """
    for attempt in range(5):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
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


def _walk(directory: Path, rel: str) -> Iterator[str]:
    """Keys of the regular files under ``directory`` (``rel`` is its key prefix)."""
    try:
        entries = builtins.list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        key = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), key)
        elif entry.is_file(follow_symlinks=False) and not entry.name.startswith(_TMP_PREFIX):
            yield key
