"""Archive limits: compressed size, member count, expanded size and expansion ratio are
checked before anything is written, and a job whose source archive crosses one fails
with a reason naming the limit."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from jobs.conftest import ServerPool

from hybridjobs.archives import ArchiveLimits, ArchiveTooLarge, extract_archive, limits_from

MIB = 2**20


def zeros_tar_gz(size: int, members: int = 1) -> bytes:
    """A gzip'd tar of ``members`` files of ``size`` zero bytes each (streamed)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w|") as tar,
    ):
        for index in range(members):
            info = tarfile.TarInfo(f"f{index}")
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return buffer.getvalue()


def write(tmp_path: Path, data: bytes, name: str = "a.tar.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_each_limit_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    bomb = write(tmp_path, zeros_tar_gz(4 * MIB))
    small = ArchiveLimits(ratio_floor_bytes=MIB)
    with pytest.raises(ArchiveTooLarge, match="expansion ratio limit"):
        extract_archive(bomb, dest, small)
    with pytest.raises(ArchiveTooLarge, match="expanded size limit"):
        extract_archive(bomb, dest, ArchiveLimits(max_expanded_bytes=MIB))
    with pytest.raises(ArchiveTooLarge, match="compressed size"):
        extract_archive(bomb, dest, ArchiveLimits(max_compressed_bytes=100))
    many = write(tmp_path, zeros_tar_gz(0, members=11), "many.tar.gz")
    with pytest.raises(ArchiveTooLarge, match="member count limit"):
        extract_archive(many, dest, ArchiveLimits(max_members=10))
    assert not dest.exists()

    extract_archive(many, dest, ArchiveLimits(max_members=11))
    assert len(list(dest.iterdir())) == 11
    extract_archive(bomb, tmp_path / "ok", ArchiveLimits(ratio_floor_bytes=8 * MIB))
    assert (tmp_path / "ok" / "f0").stat().st_size == 4 * MIB


def test_zip_members_count_by_their_declared_sizes(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big", bytes(2 * MIB))
    with pytest.raises(ArchiveTooLarge, match="expansion ratio limit"):
        extract_archive(path, tmp_path / "out", ArchiveLimits(ratio_floor_bytes=MIB))
    assert not (tmp_path / "out").exists()


def test_a_job_whose_archive_is_a_bomb_fails_naming_the_limit(servers: ServerPool) -> None:
    kit = servers.start()
    uri = kit.put("src/bomb/source.tar.gz", zeros_tar_gz(65 * MIB))
    arn = kit.create(
        algorithmSpecification={
            "scriptModeConfig": {"s3Uri": uri, "entryPoint": "f0", "compressionType": "GZIP"}
        }
    )
    job = kit.wait(arn, ["FAILED"], timeout=30)
    reason = job["failureReason"]
    assert "expansion ratio limit" in reason and uri in reason, reason
    assert not any(kit.job_dir(arn).rglob("f0")), "nothing of the archive may be written"


def test_the_limits_are_settings_that_reach_the_instance(servers: ServerPool) -> None:
    kit = servers.start(env={"HYBRIDJOBS_ARCHIVE_MAX_MEMBERS": "10"})
    many = kit.put("src/many/source.tar.gz", zeros_tar_gz(0, members=11))
    arn = kit.create(
        algorithmSpecification={
            "scriptModeConfig": {"s3Uri": many, "entryPoint": "f0", "compressionType": "GZIP"}
        }
    )
    reason = kit.wait(arn, ["FAILED"], timeout=30)["failureReason"]
    assert "member count limit" in reason and "10" in reason, reason

    ten: dict[str, str | bytes] = {"job.py": "print('fits')\n"}
    ten.update({f"data{index}.txt": "" for index in range(9)})
    kit.run_ok(files=ten, entry_point="job")


def test_limits_from_a_spec_mapping() -> None:
    assert limits_from({}) == ArchiveLimits()
    chosen = limits_from({"max_members": 7.0, "max_expansion_ratio": 3, "unknown": 1})
    assert chosen == ArchiveLimits(max_members=7, max_expansion_ratio=3.0)
    assert isinstance(chosen.max_members, int)
