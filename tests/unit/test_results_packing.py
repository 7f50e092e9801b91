"""Packing model.tar.gz: clashes between instances, symlinks, empty directories."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from hybridjobs.jobdata import PackReport, Skipped, pack_archive, upload_results
from hybridjobs.objects import LocalObjectStore


def _model(root: Path, host: str, files: dict[str, str], dirs: Sequence[str] = ()) -> Path:
    """``root/instances/<host>/model`` with ``files`` and (empty) ``dirs`` in it."""
    model = root / "instances" / host / "model"
    model.mkdir(parents=True)
    for name, content in files.items():
        path = model / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for name in dirs:
        (model / name).mkdir(parents=True, exist_ok=True)
    return model


def _pack(tmp_path: Path, models: Sequence[Path]) -> tuple[PackReport, dict[str, bytes | None]]:
    """Pack ``models``; the report and the archive's members (name -> content, None for a
    directory), after checking the archive is sound and extracts with the data filter."""
    archive = tmp_path / "model.tar.gz"
    report = pack_archive(models, archive)
    members: dict[str, bytes | None] = {}
    with tarfile.open(archive, "r:gz") as tar:
        infos = tar.getmembers()
        names = [info.name for info in infos]
        assert len(names) == len(set(names)), f"a path twice: {names}"
        for info in infos:
            assert info.isfile() or info.isdir(), f"{info.name} is neither file nor directory"
            extracted = tar.extractfile(info) if info.isfile() else None
            members[info.name] = extracted.read() if extracted is not None else None
        for name in names:  # nothing lies under a file
            parent = name.rpartition("/")[0]
            assert not parent or members.get(parent, b"") is None, f"{name} is under a file"
        destination = tmp_path / "extracted"
        tar.extractall(destination, filter="data")
    assert report.files == sum(1 for v in members.values() if v is not None)
    assert report.directories == sum(1 for v in members.values() if v is None)
    return report, members


def _files(members: dict[str, bytes | None]) -> dict[str, bytes]:
    return {name: data for name, data in members.items() if data is not None}


def test_a_file_of_algo_1_beats_a_directory_of_algo_2(tmp_path: Path) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}", "x": "file of 1"})
    algo2 = _model(tmp_path, "algo-2", {"x/y.txt": "2", "x/z/w.txt": "2", "other.txt": "2"})
    report, members = _pack(tmp_path, [algo1, algo2])
    assert members == {"results.json": b"{}", "x": b"file of 1", "other.txt": b"2"}
    assert report.skipped == [
        Skipped(1, "x", "a directory where a lower-numbered instance wrote a file (it wins)")
    ]


def test_a_directory_of_algo_1_beats_a_file_of_algo_2(tmp_path: Path) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}", "model/x/y.txt": "1"})
    algo2 = _model(tmp_path, "algo-2", {"results.json": "[]", "model/x": "file of 2"})
    report, members = _pack(tmp_path, [algo1, algo2])
    assert _files(members) == {"results.json": b"{}", "model/x/y.txt": b"1"}
    assert members["model/x"] is None and members["model"] is None
    assert [(s.instance, s.path) for s in report.skipped] == [(1, "model/x")]
    assert "lower-numbered instance wrote a directory" in report.skipped[0].reason
    extracted = tmp_path / "extracted"
    assert (extracted / "results.json").read_text() == "{}"
    assert (extracted / "model" / "x" / "y.txt").read_text() == "1"


def test_three_instances_merge_directories_and_resolve_each_path(tmp_path: Path) -> None:
    algo1 = _model(tmp_path, "algo-1", {"a/b.txt": "1", "same.txt": "1"})
    algo2 = _model(tmp_path, "algo-2", {"a": "2", "c/d.txt": "2", "same.txt": "2"})
    algo3 = _model(
        tmp_path,
        "algo-3",
        {"c": "3", "a/e.txt": "3", "results.json": "3", "c2/f.txt": "3", "same.txt": "3"},
    )
    report, members = _pack(tmp_path, [algo1, algo2, algo3, tmp_path / "missing"])
    assert _files(members) == {
        "a/b.txt": b"1",
        "a/e.txt": b"3",  # algo-1's directory a, filled by both
        "c/d.txt": b"2",  # algo-2's directory c beats algo-3's file c
        "c2/f.txt": b"3",
        "results.json": b"3",
        "same.txt": b"1",
    }
    assert {name for name, data in members.items() if data is None} == {"a", "c", "c2"}
    assert [(s.instance, s.path) for s in report.skipped] == [(1, "a"), (2, "c")]


def test_symlinks_inside_the_instance_directory_are_packed_as_what_they_point_to(
    tmp_path: Path,
) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}", "inside.txt": "in model"})
    instance = algo1.parent
    (instance / "outputs" / "weights").mkdir(parents=True)
    (instance / "outputs" / "model.bin").write_bytes(b"\x00\x01binary")
    (instance / "outputs" / "weights" / "w.npy").write_text("w")
    (algo1 / "model.bin").symlink_to("../outputs/model.bin")  # relative
    (algo1 / "weights").symlink_to(instance / "outputs" / "weights")  # absolute, a directory
    (algo1 / "alias.txt").symlink_to("inside.txt")
    (algo1 / "loop").symlink_to(".")
    report, members = _pack(tmp_path, [algo1])
    assert _files(members) == {
        "alias.txt": b"in model",
        "inside.txt": b"in model",
        "model.bin": b"\x00\x01binary",
        "results.json": b"{}",
        "weights/w.npy": b"w",
    }
    assert members["weights"] is None
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("loop", "a symlink to a directory that contains it (a loop)")
    ]


def test_symlinks_out_of_the_instance_directory_are_skipped_and_reported(
    tmp_path: Path,
) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}"})
    algo2 = _model(tmp_path, "algo-2", {})
    (algo1 / "hostname").symlink_to("/etc/hostname")
    (algo1 / "broken").symlink_to("does-not-exist")
    # Another instance's directory is outside this instance's own.
    (algo2 / "peer.json").symlink_to(algo1 / "results.json")
    report, members = _pack(tmp_path, [algo1, algo2])
    assert members == {"results.json": b"{}"}
    assert [(s.instance, s.path) for s in report.skipped] == [
        (0, "broken"),
        (0, "hostname"),
        (1, "peer.json"),
    ]
    assert "/etc/hostname" in report.skipped[1].reason
    assert "outside the instance's directory" in report.skipped[1].reason
    assert str(report.skipped[1]) == (
        "model.tar.gz leaves out hostname of the results directory: "
        "a symlink to /etc/hostname, outside the instance's directory"
    )


def test_empty_directories_are_kept(tmp_path: Path) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}"}, dirs=["empty", "deep/er/est"])
    algo2 = _model(tmp_path, "algo-2", {}, dirs=["empty", "only-2"])
    report, members = _pack(tmp_path, [algo1, algo2])
    assert members == {
        "deep": None,
        "deep/er": None,
        "deep/er/est": None,
        "empty": None,
        "only-2": None,
        "results.json": b"{}",
    }
    assert report.skipped == []
    assert (tmp_path / "extracted" / "deep" / "er" / "est").is_dir()


def test_special_files_are_skipped(tmp_path: Path) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}"})
    os.mkfifo(algo1 / "pipe")
    report, members = _pack(tmp_path, [algo1])
    assert members == {"results.json": b"{}"}
    assert [s.path for s in report.skipped] == ["pipe"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_unreadable_files_are_skipped(tmp_path: Path) -> None:
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}", "secret.txt": "s"})
    (algo1 / "secret.txt").chmod(0)
    report, members = _pack(tmp_path, [algo1])
    assert members == {"results.json": b"{}"}
    assert [s.path for s in report.skipped] == ["secret.txt"]


def test_upload_results_reports_what_it_skipped(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    algo1 = _model(tmp_path, "algo-1", {"results.json": "{}", "x": "1"})
    algo2 = _model(tmp_path, "algo-2", {"x/y": "2"})
    heard: list[Sequence[Skipped]] = []
    uri = upload_results(store, [algo1, algo2], "s3://out/j", on_skipped=heard.append)
    assert uri == "s3://out/j/output/model.tar.gz"
    assert [[(s.instance, s.path) for s in batch] for batch in heard] == [[(1, "x")]]
    data = store.get_bytes("out", "j/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["results.json", "x"]

    quiet: list[Sequence[Skipped]] = []
    upload_results(store, [algo1], "s3://out/k", on_skipped=quiet.append)
    assert quiet == []  # called only when something was left out
