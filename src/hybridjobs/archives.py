"""Safe extraction of the archives users upload (tar, tar.gz/bz2/xz, zip).

``extract_archive`` inspects every member *before* writing anything and refuses the whole
archive (``UnsafeArchiveError``, naming the member) when one member is absolute, climbs
out of the destination with ``..``, is a device or FIFO, is a link (symbolic or hard)
whose target resolves outside the destination, or has a path that runs through one of
the archive's own symbolic links. Symbolic-link targets are resolved against the links
the archive itself creates, so chains such as ``a -> .`` then ``a/b -> ..`` are caught.
For tar files, ``tarfile``'s ``data`` filter is applied as a second line of defence.

Before any of that, :class:`ArchiveLimits` bound what an archive may cost
(``ArchiveTooLarge``, naming the limit): its compressed size, its number of members, the
bytes it expands to, and how many times its compressed size that is (a decompression
bomb). Tar headers are read one at a time and the scan stops at the first limit crossed,
so a bomb is refused without being expanded.
"""

from __future__ import annotations

import dataclasses
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MAX_LINK_HOPS = 40
_MIB = 2**20


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may cost. ``max_expansion_ratio`` applies only to archives that
    expand to more than ``ratio_floor_bytes`` (small text archives compress very well)."""

    max_compressed_bytes: int = 1024 * _MIB
    max_members: int = 20_000
    max_expanded_bytes: int = 4096 * _MIB
    max_expansion_ratio: float = 100.0
    ratio_floor_bytes: int = 64 * _MIB


DEFAULT_LIMITS = ArchiveLimits()


def limits_from(values: Mapping[str, float]) -> ArchiveLimits:
    """:class:`ArchiveLimits` with ``values`` (by field name; unknown names are ignored)
    over the defaults."""
    known = {f.name for f in dataclasses.fields(ArchiveLimits)}
    chosen: dict[str, Any] = {}
    for name, value in values.items():
        if name in known:
            chosen[name] = float(value) if name == "max_expansion_ratio" else int(value)
    return dataclasses.replace(DEFAULT_LIMITS, **chosen)


class ArchiveError(Exception):
    """The file is not a readable archive of a supported format."""


class UnsafeArchiveError(ArchiveError):
    """A member would write outside the destination, or is of a forbidden type."""


class ArchiveTooLarge(ArchiveError):
    """The archive crosses one of its :class:`ArchiveLimits`; the message names which."""


class _Budget:
    """Counts members and expanded bytes against ``limits`` as they are read."""

    def __init__(self, limits: ArchiveLimits, compressed: int) -> None:
        self.limits = limits
        self.compressed = compressed
        self.members = 0
        self.expanded = 0
        if compressed > limits.max_compressed_bytes:
            raise ArchiveTooLarge(
                f"the archive is {compressed} bytes, over the limit of "
                f"{limits.max_compressed_bytes} bytes (compressed size)"
            )

    def add(self, size: int) -> None:
        """Count one member of ``size`` bytes; ``ArchiveTooLarge`` once over a limit."""
        limits = self.limits
        self.members += 1
        self.expanded += max(size, 0)
        if self.members > limits.max_members:
            raise ArchiveTooLarge(
                f"the archive has more than {limits.max_members} members (member count limit)"
            )
        if self.expanded > limits.max_expanded_bytes:
            raise ArchiveTooLarge(
                f"the archive expands to more than {limits.max_expanded_bytes} bytes "
                "(expanded size limit)"
            )
        ratio = self.expanded / max(self.compressed, 1)
        if self.expanded > limits.ratio_floor_bytes and ratio > limits.max_expansion_ratio:
            raise ArchiveTooLarge(
                f"the archive expands to more than {ratio:.0f} times its compressed size of "
                f"{self.compressed} bytes (expansion ratio limit: "
                f"{limits.max_expansion_ratio:g})"
            )


@dataclass(frozen=True)
class _Member:
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "special"
    link: str = ""


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a zip or tar file (optionally compressed), judged by content."""
    return zipfile.is_zipfile(path) or _is_tar(path)


def extract_archive(archive: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
    """Extract ``archive`` into ``dest`` (created if missing) after validating every member.

    The format is detected from the content (zip first, then tar with any compression
    ``tarfile`` knows); the extension is not trusted. Raises ``ArchiveTooLarge`` (naming
    the limit) or ``UnsafeArchiveError`` before writing anything if the archive crosses
    ``limits`` or a member is unsafe (see the module docstring), and ``ArchiveError`` when
    the file is not a supported or readable archive.
    """
    dest = Path(dest)
    if zipfile.is_zipfile(archive):
        _extract_zip(Path(archive), dest, limits)
    elif _is_tar(archive):
        _extract_tar(Path(archive), dest, limits)
    else:
        raise ArchiveError(f"{archive} is not a tar or zip archive")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, ValueError, tarfile.TarError):
        return False  # e.g. a truncated gzip stream


def _extract_tar(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    budget = _Budget(limits, archive.stat().st_size)
    try:
        with tarfile.open(archive, "r:*") as tar:
            infos = []
            for info in tar:  # one header at a time: a bomb stops at its first excess
                budget.add(info.size if info.isreg() else 0)
                infos.append(info)
            _validate_members(_tar_member(info) for info in infos)
            for info in infos:  # tarfile cannot create "a/../b"; validated, so normalise
                info.name = _normalise(info.name) or "."
                if info.islnk():
                    info.linkname = _normalise(info.linkname)
            dest.mkdir(parents=True, exist_ok=True)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=infos, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(dest, members=infos)
    except ArchiveError:
        raise
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"tar member refused by the data filter: {exc}") from exc
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"cannot read tar archive {archive}: {exc}") from exc


def _tar_member(info: tarfile.TarInfo) -> _Member:
    if info.isdir():
        return _Member(info.name, "dir")
    if info.issym():
        return _Member(info.name, "symlink", info.linkname)
    if info.islnk():
        return _Member(info.name, "hardlink", info.linkname)
    if info.isreg():
        return _Member(info.name, "file")
    return _Member(info.name, "special")


def _extract_zip(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    budget = _Budget(limits, archive.stat().st_size)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:  # the sizes zipfile will hold each member to
                budget.add(info.file_size)
            _validate_members(_zip_member(zf, info) for info in infos)
            dest.mkdir(parents=True, exist_ok=True)
            zf.extractall(dest)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"cannot read zip archive {archive}: {exc}") from exc


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    """zipfile writes symlink entries as plain files; they are still checked as links."""
    mode = info.external_attr >> 16
    if info.is_dir():
        return _Member(info.filename, "dir")
    if stat.S_ISLNK(mode):
        return _Member(info.filename, "symlink", zf.read(info).decode("utf-8", "replace"))
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return _Member(info.filename, "special")
    return _Member(info.filename, "file")


def _validate_members(members: Iterable[_Member]) -> None:
    """Raise ``UnsafeArchiveError`` for the first member that could write outside the root."""
    members = list(members)
    symlinks = {_normalise(m.name): m.link for m in members if m.kind == "symlink"}
    for member in members:
        _check_member(member, symlinks)


def _check_member(member: _Member, symlinks: dict[str, str]) -> None:
    name = member.name
    if not name or "\0" in name:
        raise UnsafeArchiveError(f"archive member has an empty or NUL-bearing name: {name!r}")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member has an absolute path: {name!r}")
    if member.kind == "special":
        raise UnsafeArchiveError(f"archive member is a device or FIFO: {name!r}")
    components = name.split("/")
    parts = _resolve_parts(components, [], {}, name)
    if parts is None:
        raise UnsafeArchiveError(f"archive member escapes the destination: {name!r}")
    for end in range(1, len(components)):
        if _normalise("/".join(components[:end])) in symlinks:
            raise UnsafeArchiveError(
                f"archive member {name!r} has a path through the archive's own symlink "
                f"{'/'.join(components[:end])!r}"
            )
    if member.kind == "symlink":
        link = member.link
        if not parts:
            raise UnsafeArchiveError(f"archive member {name!r} is a symlink replacing the root")
        if not link or link.startswith("/") or "\0" in link:
            raise UnsafeArchiveError(
                f"archive member {name!r} is a symlink to an absolute path: {link!r}"
            )
        if _resolve_parts(link.split("/"), parts[:-1], symlinks, name) is None:
            raise UnsafeArchiveError(
                f"archive member {name!r} is a symlink pointing outside the destination: {link!r}"
            )
    if member.kind == "hardlink":
        link = member.link
        if not link or link.startswith("/") or "\0" in link:
            raise UnsafeArchiveError(
                f"archive member {name!r} is a hard link to an absolute path: {link!r}"
            )
        if _resolve_parts(link.split("/"), [], symlinks, name) is None:
            raise UnsafeArchiveError(
                f"archive member {name!r} is a hard link pointing outside the destination: {link!r}"
            )


def _normalise(name: str) -> str:
    normal = posixpath.normpath(name.strip("/"))
    return "" if normal == "." else normal


def _resolve_parts(
    components: list[str],
    start: list[str],
    symlinks: dict[str, str],
    member: str,
    hops: int = 0,
) -> list[str] | None:
    """Resolve a relative path inside the destination, following the archive's symlinks.

    ``symlinks`` maps each symlink member's normalised name to its target (members never
    traverse symlinks, so a name is its real location). Returns the resolved components,
    or None when the path leaves the destination or meets an absolute symlink. Too many
    hops (a loop) raise ``UnsafeArchiveError``.
    """
    current = list(start)
    for part in components:
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                return None
            current.pop()
            continue
        current.append(part)
        target = symlinks.get("/".join(current))
        if target is None:
            continue
        if hops >= _MAX_LINK_HOPS:
            raise UnsafeArchiveError(f"archive member {member!r}: too many symlink levels")
        if target.startswith("/"):
            return None
        resolved = _resolve_parts(target.split("/"), current[:-1], symlinks, member, hops + 1)
        if resolved is None:
            return None
        current = resolved
    return current
