"""The object-store contract, run against LocalObjectStore and S3ObjectStore (moto server)."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hybridjobs.objects import (
    BucketNotEmpty,
    InvalidObjectName,
    InvalidRange,
    LocalObjectStore,
    NoSuchBucket,
    NoSuchKey,
    ObjectStore,
    ObjectStoreError,
    download_prefix,
    open_object_store,
    parse_s3_uri,
    upload_dir,
)

# -- fixtures ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, ready when its banner line appears."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    ready = threading.Event()
    banner: list[str] = []

    def drain() -> None:  # keeps reading so moto never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            banner.append(line)
            if "Running on" in line:
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert ready.wait(60) and proc.poll() is None, "moto did not start:\n" + "".join(banner)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    from hybridjobs.objects.s3 import S3ObjectStore

    endpoint = request.getfixturevalue("moto_endpoint")
    return S3ObjectStore(endpoint, "us-west-2", access_key="testing", secret_key="testing")


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    """A fresh, empty bucket (the moto server is shared by the module)."""
    name = f"bkt-{uuid.uuid4().hex[:12]}"
    store.create_bucket(name)
    return name


def _quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


# -- the contract ------------------------------------------------------------------------


def test_bucket_lifecycle(store: ObjectStore) -> None:
    name = f"life-{uuid.uuid4().hex[:12]}"
    assert not store.bucket_exists(name)
    store.create_bucket(name)
    store.create_bucket(name)  # idempotent
    assert store.bucket_exists(name)
    assert name in store.list_buckets()
    assert store.list_buckets() == sorted(store.list_buckets())
    store.delete_bucket(name)
    assert not store.bucket_exists(name)
    with pytest.raises(NoSuchBucket):
        store.delete_bucket(name)


def test_non_empty_bucket_cannot_be_deleted(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "deep/key.txt", b"x")
    with pytest.raises(BucketNotEmpty):
        store.delete_bucket(bucket)
    store.delete(bucket, "deep/key.txt")
    store.delete_bucket(bucket)
    assert not store.bucket_exists(bucket)


def test_put_get_head(store: ObjectStore, bucket: str) -> None:
    data = b"hello object store"
    before = time.time()
    info = store.put_bytes(bucket, "dir/hello.txt", data)
    assert (info.key, info.size, info.etag) == ("dir/hello.txt", len(data), _quoted_md5(data))
    assert before - 60 < info.last_modified < time.time() + 60
    assert store.head(bucket, "dir/hello.txt") == info
    assert store.get_bytes(bucket, "dir/hello.txt") == data
    replaced = store.put_bytes(bucket, "dir/hello.txt", b"v2")
    assert replaced.etag == _quoted_md5(b"v2")
    assert store.get_bytes(bucket, "dir/hello.txt") == b"v2"


def test_put_file_get_to_file_and_bucket_creation(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 100)
    new_bucket = f"auto-{uuid.uuid4().hex[:12]}"
    info = store.put_file(new_bucket, "a/b/source.bin", source)
    assert store.bucket_exists(new_bucket)
    assert info.etag == _quoted_md5(source.read_bytes())
    target = tmp_path / "down" / "deeper" / "copy.bin"
    store.get_to_file(new_bucket, "a/b/source.bin", target)
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]  # no temp files


def test_missing_things(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    gone = f"gone-{uuid.uuid4().hex[:12]}"
    missing_key: list[Callable[[], object]] = [
        lambda: store.get_bytes(bucket, "nope"),
        lambda: store.head(bucket, "nope"),
        lambda: store.get_to_file(bucket, "nope", tmp_path / "x"),
        lambda: store.copy(bucket, "nope", bucket, "other"),
    ]
    for call in missing_key:
        with pytest.raises(NoSuchKey):
            call()
    missing_bucket: list[Callable[[], object]] = [
        lambda: store.get_bytes(gone, "k"),
        lambda: store.head(gone, "k"),
        lambda: store.list(gone),
        lambda: store.delete(gone, "k"),
    ]
    for call in missing_bucket:
        with pytest.raises(NoSuchBucket):
            call()
    store.delete(bucket, "nope")  # a missing key is not an error
    assert not (tmp_path / "x").exists()
    assert issubclass(NoSuchKey, ObjectStoreError) and issubclass(NoSuchBucket, ObjectStoreError)


def test_byte_ranges(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "r", b"0123456789")
    assert store.get_bytes(bucket, "r", (0, 3)) == b"0123"
    assert store.get_bytes(bucket, "r", (7, None)) == b"789"
    assert store.get_bytes(bucket, "r", (5, 100)) == b"56789"
    assert store.get_bytes(bucket, "r", (9, 9)) == b"9"
    with pytest.raises(InvalidRange):
        store.get_bytes(bucket, "r", (10, 12))
    for bad in ((-1, 2), (3, 1)):
        with pytest.raises(ValueError):
            store.get_bytes(bucket, "r", bad)


def test_list_is_sorted_and_filtered_by_plain_prefix(store: ObjectStore, bucket: str) -> None:
    stored = ["b", "a/2", "a/10", "a/1", "ab", "a-", "z/é", "a/1/x"]
    if isinstance(store, LocalObjectStore):
        stored.remove("a/1/x")  # 'a/1' is a file locally (documented limitation)
    for key in stored:
        store.put_bytes(bucket, key, key.encode())
    assert [info.key for info in store.list(bucket)] == sorted(stored)
    for prefix in ("a/1", "a/", "a", "z/", "nothing/here"):
        expected = sorted(k for k in stored if k.startswith(prefix))
        assert [info.key for info in store.list(bucket, prefix)] == expected, prefix
    info = next(i for i in store.list(bucket) if i.key == "ab")
    assert (info.size, info.etag) == (2, _quoted_md5(b"ab"))


def test_copy_and_delete(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "src/one", b"payload")
    other = f"dst-{uuid.uuid4().hex[:12]}"
    info = store.copy(bucket, "src/one", other, "copied/one")
    assert info.etag == _quoted_md5(b"payload")
    assert store.get_bytes(other, "copied/one") == b"payload"
    store.delete(bucket, "src/one")
    assert list(store.list(bucket)) == []
    assert store.get_bytes(other, "copied/one") == b"payload"


def test_download_prefix_semantics(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    for key in ("data/x.csv", "data/sub/y.csv", "datafile.txt", "other/z"):
        store.put_bytes(bucket, key, key.encode())

    def fetched(prefix: str) -> list[str]:
        dest = tmp_path / uuid.uuid4().hex
        paths = download_prefix(store, bucket, prefix, dest)
        for path in paths:
            assert path.read_bytes().decode().endswith(path.name)
        return sorted(p.relative_to(dest).as_posix() for p in paths)

    assert fetched("data/") == ["sub/y.csv", "x.csv"]  # a directory: its contents
    assert fetched("data/sub") == ["y.csv"]  # every key under "data/sub/": a directory too
    assert fetched("data/x.csv") == ["x.csv"]  # a file keeps its basename
    assert fetched("data/su") == ["sub/y.csv"]  # relative to the prefix's parent
    assert fetched("data") == ["data/sub/y.csv", "data/x.csv", "datafile.txt"]
    assert fetched("missing/") == []


def test_upload_dir_uploads_new_or_changed_files(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "ckpt"
    (src / "nested").mkdir(parents=True)
    (src / "a.json").write_text("{}")
    (src / "nested" / "b.json").write_text("[1]")
    (src / "link.json").symlink_to(tmp_path / "outside.json")
    (tmp_path / "outside.json").write_text("secret")
    target = f"up-{uuid.uuid4().hex[:12]}"  # created on demand
    assert upload_dir(store, src, target, "jobs/j/checkpoints") == 2
    assert [i.key for i in store.list(target)] == [
        "jobs/j/checkpoints/a.json",
        "jobs/j/checkpoints/nested/b.json",
    ]
    assert upload_dir(store, src, target, "jobs/j/checkpoints/") == 0
    (src / "nested" / "b.json").write_text("[2]")
    (src / "c.json").write_text("new")
    assert upload_dir(store, src, target, "jobs/j/checkpoints") == 2
    assert store.get_bytes(target, "jobs/j/checkpoints/nested/b.json") == b"[2]"


def test_config_rebuilds_an_equivalent_store(
    store: ObjectStore, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_bytes(bucket, "k", b"v")
    config = store.config()
    assert "testing" not in str(config)  # never credentials
    # An S3 store rebuilt from its config takes credentials from the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert open_object_store(config).get_bytes(bucket, "k") == b"v"


def test_open_object_store_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown object store kind"):
        open_object_store({"kind": "ftp"})


# -- S3 only -----------------------------------------------------------------------------


def test_download_prefix_refuses_keys_that_climb_out(moto_endpoint: str, tmp_path: Path) -> None:
    from hybridjobs.objects.s3 import S3ObjectStore

    s3 = S3ObjectStore(moto_endpoint, "us-east-1", access_key="testing", secret_key="testing")
    name = f"evil-{uuid.uuid4().hex[:12]}"
    s3.put_bytes(name, "data/ok.txt", b"fine")
    s3.put_bytes(name, "data/../../escape.txt", b"boom")
    if "data/../../escape.txt" not in {i.key for i in s3.list(name)}:
        pytest.skip("this moto version normalises '..' in keys")
    dest = tmp_path / "sandbox" / "channel"
    with pytest.raises(InvalidObjectName, match=r"escape\.txt"):
        download_prefix(s3, name, "data/", dest)
    assert not (tmp_path / "sandbox").exists() and not (tmp_path / "escape.txt").exists()


# -- local only --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/../b", "..", "a//b", "a/./b", "trailing/", "nul\0byte", "x/.hybridjobs-tmp-1"],
)
def test_local_rejects_unsafe_keys(tmp_path: Path, key: str) -> None:
    local = LocalObjectStore(tmp_path / "root")
    with pytest.raises(InvalidObjectName):
        local.put_bytes("b", key, b"x")
    assert isinstance(InvalidObjectName("x"), ValueError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


@pytest.mark.parametrize("name", ["", "..", ".hidden", "a/b", "-dash"])
def test_local_rejects_unsafe_bucket_names(tmp_path: Path, name: str) -> None:
    local = LocalObjectStore(tmp_path / "root")
    with pytest.raises(InvalidObjectName):
        local.put_bytes(name, "k", b"x")
    assert not local.bucket_exists(name)


def test_local_layout_and_atomic_writes(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    local = LocalObjectStore(root)
    local.put_bytes("bkt", "jobs/j/script/source.tar.gz", b"tgz")
    assert (root / "bkt/jobs/j/script/source.tar.gz").read_bytes() == b"tgz"
    assert [p.name for p in (root / "bkt/jobs/j/script").iterdir()] == ["source.tar.gz"]
    (root / "bkt/jobs/j/script/.hybridjobs-tmp-stale").write_bytes(b"half")  # a crashed write
    assert [i.key for i in local.list("bkt")] == ["jobs/j/script/source.tar.gz"]
    local.delete("bkt", "jobs/j/script/source.tar.gz")
    local.delete_bucket("bkt")  # only a stale temp file was left
    assert not (root / "bkt").exists()


def test_local_delete_prunes_empty_directories(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    local.put_bytes("b", "x/y/z", b"1")
    local.put_bytes("b", "x/keep", b"2")
    local.delete("b", "x/y/z")
    assert not (tmp_path / "objects/b/x/y").exists()
    assert (tmp_path / "objects/b/x/keep").exists()
    local.delete("b", "x")  # a "directory", not an object: nothing happens
    assert local.get_bytes("b", "x/keep") == b"2"


def test_local_file_directory_clash_is_an_error(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    local.put_bytes("b", "a", b"file")
    with pytest.raises(ObjectStoreError, match="clashes"):
        local.put_bytes("b", "a/b", b"nested")
    local.put_bytes("b", "dir/x", b"1")
    with pytest.raises(ObjectStoreError, match="clashes"):
        local.put_bytes("b", "dir", b"file")
    with pytest.raises(NoSuchKey):
        local.get_bytes("b", "dir")


def test_local_etag_tracks_external_changes(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    local.put_bytes("b", "k", b"one")
    (tmp_path / "objects/b/k").write_bytes(b"changed by hand")
    assert local.head("b", "k").etag == _quoted_md5(b"changed by hand")


# -- URIs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/jobs/a/b.tar.gz", ("bucket", "jobs/a/b.tar.gz")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/odd?key#frag", ("bucket", "odd?key#frag")),
        ("https://bucket.s3.us-west-2.amazonaws.com/k/e%20y", ("bucket", "k/e y")),
        ("https://my.dotted.bucket.s3.eu-west-2.amazonaws.com/k", ("my.dotted.bucket", "k")),
        ("https://bucket.s3.amazonaws.com/k", ("bucket", "k")),
        ("https://s3.us-east-1.amazonaws.com/bucket/k/x", ("bucket", "k/x")),
        ("https://s3.amazonaws.com/bucket/k", ("bucket", "k")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "bucket/key",
        "s3:///key",
        "http://example.com/b/k",
        "https://example.com/b/k",
        "file:///x",
    ],
)
def test_parse_s3_uri_rejects(uri: str) -> None:
    with pytest.raises(ValueError, match="S3 URI"):
        parse_s3_uri(uri)
