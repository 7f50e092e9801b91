"""Safe archive extraction: refused members leave the disk untouched."""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from hybridjobs.archives import ArchiveError, UnsafeArchiveError, extract_archive, is_archive


def _tar(
    path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz"
) -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(outer, dest): dest lies inside outer, so escapes would land in outer."""
    dest = tmp_path / "outer" / "dest"
    dest.parent.mkdir()
    return tmp_path / "outer", dest


def test_normal_tree_extracts(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "source.tar.gz",
        [
            ("algo.py", b"print('hi')\n"),
            ("pkg/__init__.py", b""),
            ("pkg/sub/mod.py", b"X = 1\n"),
            ("./pkg/./dotted.py", b""),
            _link("pkg/alias.py", "sub/mod.py"),
            _link("pkg/hard.py", "pkg/sub/mod.py", tarfile.LNKTYPE),
        ],
    )
    dest = tmp_path / "out"
    extract_archive(archive, dest)
    assert (dest / "algo.py").read_text() == "print('hi')\n"
    assert (dest / "pkg/alias.py").read_text() == "X = 1\n"
    assert (dest / "pkg/hard.py").read_text() == "X = 1\n"
    assert (dest / "pkg/dotted.py").exists()


def test_inner_dotdot_that_stays_inside_is_fine(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [("a/../b.txt", b"ok")], mode="w")
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out/b.txt").read_bytes() == b"ok"


@pytest.mark.parametrize(
    ("members", "offender"),
    [
        ([("ok.py", b""), ("../evil.py", b"boom")], "../evil.py"),
        ([("sub/../../evil.py", b"boom")], "sub/../../evil.py"),
        ([("/tmp/evil.py", b"boom")], "/tmp/evil.py"),
        ([_link("link", "../../outside")], "link"),
        ([_link("abs", "/etc/passwd")], "abs"),
        ([_link("hard", "../evil", tarfile.LNKTYPE)], "hard"),
        ([_link("hard", "/etc/passwd", tarfile.LNKTYPE)], "hard"),
        # A symlink to a directory, then a member written through it.
        ([_link("up", ".."), ("up/evil.py", b"boom")], "up"),
        ([_link("here", "."), ("here/x", b""), _link("here/y", "..")], "here/"),
        # Chains: each link alone looks inside, together they leave.
        ([_link("a", "b/.."), _link("b", "c"), _link("c", "..")], "c"),
        ([_link("loop1", "loop2"), _link("loop2", "loop1")], "loop"),
    ],
)
def test_unsafe_tar_is_refused_and_nothing_is_written(
    sandbox: tuple[Path, Path],
    members: list[tarfile.TarInfo | tuple[str, bytes]],
    offender: str,
) -> None:
    outer, dest = sandbox
    archive = _tar(outer.parent / "bad.tar.gz", members)
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(archive, dest)
    assert offender in str(caught.value)
    assert _listing(outer) == []  # not even dest was created


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_devices_and_fifos_are_refused(sandbox: tuple[Path, Path], kind: bytes) -> None:
    outer, dest = sandbox
    info = tarfile.TarInfo("dev")
    info.type = kind
    archive = _tar(outer.parent / "dev.tar", [("fine.txt", b"x"), info], mode="w")
    with pytest.raises(UnsafeArchiveError, match="dev"):
        extract_archive(archive, dest)
    assert _listing(outer) == []


def test_format_is_detected_by_content(tmp_path: Path) -> None:
    disguised = _tar(tmp_path / "code.zip", [("m.py", b"A = 1\n")])  # really a tar.gz
    assert is_archive(disguised)
    extract_archive(disguised, tmp_path / "out")
    assert (tmp_path / "out/m.py").read_text() == "A = 1\n"

    zipped = tmp_path / "code.bin"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("pkg/m.py", "B = 2\n")
    assert is_archive(zipped)
    extract_archive(zipped, tmp_path / "out2")
    assert (tmp_path / "out2/pkg/m.py").read_text() == "B = 2\n"


def test_plain_file_is_not_an_archive(tmp_path: Path) -> None:
    script = tmp_path / "algo.py"
    script.write_text("def main():\n    return 1\n")
    assert not is_archive(script)
    with pytest.raises(ArchiveError):
        extract_archive(script, tmp_path / "out")


def test_corrupt_gzip_is_an_archive_error(tmp_path: Path) -> None:
    good = _tar(tmp_path / "good.tar.gz", [("a.py", b"x"), ("b.bin", os.urandom(200_000))])
    data = good.read_bytes()
    for cut in (60, len(data) // 2):  # header unreadable; header fine but body truncated
        broken = tmp_path / f"broken-{cut}.tar.gz"
        broken.write_bytes(data[:cut])
        with pytest.raises(ArchiveError):
            extract_archive(broken, tmp_path / "out")
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "offender"),
    [("../evil.py", "../evil.py"), ("/abs/evil.py", "/abs/evil.py")],
)
def test_unsafe_zip_is_refused(sandbox: tuple[Path, Path], name: str, offender: str) -> None:
    outer, dest = sandbox
    archive = outer.parent / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.py", "")
        zf.writestr(zipfile.ZipInfo(name), "boom")
    with pytest.raises(UnsafeArchiveError, match=re.escape(offender)):
        extract_archive(archive, dest)
    assert _listing(outer) == []


def test_zip_symlink_pointing_outside_is_refused(sandbox: tuple[Path, Path]) -> None:
    outer, dest = sandbox
    archive = outer.parent / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "../../etc")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(archive, dest)
    assert _listing(outer) == []
