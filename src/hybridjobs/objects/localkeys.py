"""How the local object store names things on disk: which path holds an S3 key.

The layout is described in :mod:`hybridjobs.objects.local`; this module holds its names,
the checks of keys and bucket names, the mapping of a key to its plain path or side-area
path, and the walks that read keys back from the tree.
"""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Iterator
from pathlib import Path

from hybridjobs.objects.base import InvalidObjectName

RESERVED = ".hybridjobs-"
TMP_PREFIX = ".hybridjobs-tmp-"
SELF = ".hybridjobs-self"
EMPTY = ".hybridjobs-empty"
SIDE = ".hybridjobs-keys"
LOCKS = ".hybridjobs-locks"
SIDE_CHUNK = 200
SIDE_SUFFIX = ".k"
BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
MAX_PLAIN_PATH_BYTES = 2048


def validate_key(key: str) -> builtins.list[str]:
    """Return the key's segments (``key.split("/")``), or raise ``InvalidObjectName``
    saying why this store cannot hold it."""
    if not key:
        raise InvalidObjectName("object key is empty")
    if "\0" in key:
        raise InvalidObjectName(f"object key contains NUL: {key!r}")
    try:
        size = len(utf8(key))
    except UnicodeEncodeError:
        raise InvalidObjectName(f"object key is not valid UTF-8: {key!r}") from None
    if size > MAX_KEY_BYTES:
        raise InvalidObjectName(f"object key is longer than {MAX_KEY_BYTES} bytes")
    segments = key.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidObjectName(f"object key has a '.' or '..' segment: {key!r}")
    return segments


def validate_bucket(bucket: str) -> None:
    """Raise ``InvalidObjectName`` unless ``bucket`` is a safe bucket directory name."""
    if not BUCKET_NAME.match(bucket):
        raise InvalidObjectName(f"invalid bucket name: {bucket!r}")


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def quoted(hexdigest: str) -> str:
    return f'"{hexdigest}"'


def plain_names(segments: builtins.list[str]) -> builtins.list[str] | None:
    """The path names that hold ``segments`` in the plain area, or ``None`` when only the
    side area can (see the module docstring)."""
    names: builtins.list[str] = []
    total = 0
    for segment in segments:
        if not segment:
            name = EMPTY
        elif segment in (".", "..") or segment.startswith(RESERVED):
            return None
        else:
            name = segment
        size = len(utf8(name))
        if size > MAX_SEGMENT_BYTES:
            return None
        total += size + 1
        names.append(name)
    return names if total <= MAX_PLAIN_PATH_BYTES else None


def side_path(bucket_dir: Path, key: str) -> Path:
    hexed = utf8(key).hex()
    chunks = [hexed[i : i + SIDE_CHUNK] for i in range(0, len(hexed), SIDE_CHUNK)]
    return bucket_dir.joinpath(SIDE, *chunks[:-1], chunks[-1] + SIDE_SUFFIX)


def walk_plain(directory: Path, segments: builtins.list[str]) -> Iterator[tuple[str, Path]]:
    """``(key, file)`` of the objects in the plain area under ``directory``, whose key
    segments are ``segments``; reserved names other than the layout's are skipped."""
    try:
        entries = builtins.list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = entry.name
        if name == SELF:
            if segments and entry.is_file(follow_symlinks=False):
                yield "/".join(segments), Path(entry.path)
            continue
        if name == EMPTY:
            child = [*segments, ""]
        elif name.startswith(RESERVED):
            continue
        else:
            child = [*segments, name]
        if entry.is_dir(follow_symlinks=False):
            yield from walk_plain(Path(entry.path), child)
        elif entry.is_file(follow_symlinks=False):
            yield "/".join(child), Path(entry.path)


def walk_side(side_dir: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """``(key, file)`` of the objects in the side area whose key starts with ``prefix``."""
    hexed = utf8(prefix).hex()
    depth = (len(hexed) - 1) // SIDE_CHUNK if hexed else 0
    chunks = [hexed[i * SIDE_CHUNK : (i + 1) * SIDE_CHUNK] for i in range(depth)]

    def walk(directory: Path, spelled: str) -> Iterator[tuple[str, Path]]:
        try:
            entries = builtins.list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            name = entry.name
            if name.startswith(RESERVED):
                continue
            if entry.is_dir(follow_symlinks=False) and len(name) == SIDE_CHUNK:
                yield from walk(Path(entry.path), spelled + name)
            elif entry.is_file(follow_symlinks=False) and name.endswith(SIDE_SUFFIX):
                try:
                    raw = bytes.fromhex(spelled + name[: -len(SIDE_SUFFIX)])
                except ValueError:
                    continue
                key = raw.decode("utf-8", "surrogateescape")
                if key.startswith(prefix):
                    yield key, Path(entry.path)

    yield from walk(side_dir.joinpath(*chunks), "".join(chunks))
