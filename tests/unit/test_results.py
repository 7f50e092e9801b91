"""Moving a job's data: channels and checkpoints in, model.tar.gz and checkpoints out."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from hybridjobs.jobdata import (
    DataDownloadError,
    download_channels,
    pack_results,
    restore_checkpoints,
    results_key,
    save_checkpoints,
    upload_results,
)
from hybridjobs.objects import LocalObjectStore


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            info.name: tar.extractfile(info).read()  # type: ignore[union-attr]
            for info in tar.getmembers()
            if info.isfile()
        }


def test_results_key() -> None:
    assert results_key("s3://bucket/jobs/run-1") == ("bucket", "jobs/run-1/output/model.tar.gz")
    assert results_key("s3://bucket/jobs/run-1/") == ("bucket", "jobs/run-1/output/model.tar.gz")
    assert results_key("s3://bucket") == ("bucket", "output/model.tar.gz")


def test_pack_is_the_union_and_algo_1_wins(tmp_path: Path) -> None:
    algo1 = _write(tmp_path / "algo-1", {"results.json": '{"host": 1}', "a.txt": "1"})
    algo2 = _write(
        tmp_path / "algo-2",
        {"results.json": '{"host": 2}', "b.txt": "2", "deep/er/c.txt": "2", "a.txt": "2"},
    )
    (algo2 / "link").symlink_to("/etc/passwd")  # never follow links out of the directory
    archive = tmp_path / "model.tar.gz"
    assert pack_results([algo1, algo2, tmp_path / "algo-3-missing"], archive) == 4
    members = _members(archive.read_bytes())
    assert members == {
        "results.json": b'{"host": 1}',
        "a.txt": b"1",
        "b.txt": b"2",
        "deep/er/c.txt": b"2",
    }


def test_pack_of_nothing_is_an_empty_archive(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    assert pack_results([tmp_path / "none"], archive) == 0
    assert _members(archive.read_bytes()) == {}


def test_upload_results(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    model = _write(tmp_path / "algo-1", {"results.json": "{}"})
    uri = upload_results(store, [model], "s3://out/jobs/j1")
    assert uri == "s3://out/jobs/j1/output/model.tar.gz"
    assert _members(store.get_bytes("out", "jobs/j1/output/model.tar.gz")) == {
        "results.json": b"{}"
    }


def test_download_channels_prefix_and_single_file(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put_bytes("data", "sets/train/a.csv", b"a")
    store.put_bytes("data", "sets/train/sub/b.csv", b"b")
    store.put_bytes("data", "sets/config.json", b"{}")
    channels = [
        {"channelName": "train", "dataSource": {"s3DataSource": {"s3Uri": "s3://data/sets/train"}}},
        {
            "channelName": "config",
            "dataSource": {"s3DataSource": {"s3Uri": "s3://data/sets/config.json"}},
        },
    ]
    input_dir = tmp_path / "input" / "data"
    assert download_channels(store, channels, input_dir) == 3
    files = sorted(p.relative_to(input_dir).as_posix() for p in input_dir.rglob("*") if p.is_file())
    assert files == ["config/config.json", "train/a.csv", "train/sub/b.csv"]


def test_checkpoints_round_trip(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    uri = "s3://ckpt/jobs/run"
    assert restore_checkpoints(store, uri, tmp_path / "empty") == 0  # no bucket yet

    algo1 = _write(tmp_path / "algo-1", {"state.json": "algo-1", "only1.txt": "1"})
    algo2 = _write(tmp_path / "algo-2", {"state.json": "algo-2", "only2.txt": "2"})
    assert save_checkpoints(store, uri, [algo1, algo2]) == 4
    assert store.get_bytes("ckpt", "jobs/run/state.json") == b"algo-1"  # algo-1 wins
    assert save_checkpoints(store, uri, [algo1]) == 0  # unchanged files are not re-sent

    store.put_bytes("ckpt", "jobs/run-other/stray.txt", b"not ours")  # a sibling prefix
    restored = tmp_path / "restored"
    assert restore_checkpoints(store, uri, restored) == 3
    assert sorted(p.name for p in restored.iterdir()) == ["only1.txt", "only2.txt", "state.json"]
    assert (restored / "state.json").read_text() == "algo-1"


def test_download_channels_refuses_missing_data(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put_bytes("data", "sets/a.csv", b"a")
    for uri, why in (
        ("s3://nobucket/x", "cannot download s3://nobucket/x"),
        ("s3://data/nothing/here", "no objects found under s3://data/nothing/here"),
    ):
        channel = {"channelName": "train", "dataSource": {"s3DataSource": {"s3Uri": uri}}}
        with pytest.raises(DataDownloadError, match=f"channel 'train': {why}"):
            download_channels(store, [channel], tmp_path / "input")
