"""The object-store contract, run against LocalObjectStore, S3ObjectStore (moto server) and
PrefixedObjectStore (over both)."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.moto import moto_server

from hybridjobs.objects import (
    BucketNotEmpty,
    InvalidObjectName,
    InvalidRange,
    LocalObjectStore,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
    download_prefix,
    open_object_store,
    parse_s3_uri,
    upload_dir,
)
from hybridjobs.objects.prefixed import PrefixedObjectStore

# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, shared by the module."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3", "prefixed-s3", "prefixed-local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each store kind; the prefixed ones keep every bucket under a fresh prefix of one
    real bucket (``--objects s3://BUCKET/PREFIX``)."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    if request.param == "prefixed-local":
        return PrefixedObjectStore(LocalObjectStore(tmp_path / "real"), "real", "svc/data")
    from hybridjobs.objects.s3 import S3ObjectStore

    endpoint = request.getfixturevalue("moto_endpoint")
    s3 = S3ObjectStore(endpoint, "us-west-2", access_key="testing", secret_key="testing")
    if request.param == "s3":
        return s3
    return PrefixedObjectStore(s3, "contract-real", f"runs/{uuid.uuid4().hex[:12]}/")


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


# -- key shapes S3 holds -----------------------------------------------------------------

LONG = "L" * 300  # one segment over the 255 bytes a file name may have
WIDE = "é" * 150  # 300 bytes of UTF-8 in 150 characters
SHAPES = {
    "a": b"file a",
    "a/b": b"under a",
    "a/b/c": b"under a/b",
    "a/": b"",  # a folder marker, as `aws s3` and consoles write them
    "a//d": b"after an empty segment",
    "/lead": b"leading slash",
    "dir/": b"",
    "dir/x": b"x in dir",
    f"long/{LONG}": b"long segment",
    f"long/{LONG}/deeper": b"under a long segment",
    f"long/{WIDE}": b"wide segment",
    "res/.hybridjobs-self": b"a reserved-looking name",
    "res/.hybridjobs-tmp-1": b"another one",
    "res": b"res itself",
}


def _put_all(store: ObjectStore, bucket: str, keys: list[str]) -> None:
    for key in keys:
        store.put_bytes(bucket, key, SHAPES[key])


@pytest.mark.parametrize("order", ["file-first", "directory-first"])
def test_a_key_and_keys_under_it_coexist(store: ObjectStore, bucket: str, order: str) -> None:
    keys = ["a", "a/b", "a/b/c"]
    _put_all(store, bucket, keys if order == "file-first" else keys[::-1])
    assert [i.key for i in store.list(bucket)] == keys
    for key in keys:
        assert store.get_bytes(bucket, key) == SHAPES[key]
        info = store.head(bucket, key)
        assert (info.key, info.size, info.etag) == (key, len(SHAPES[key]), _quoted_md5(SHAPES[key]))
    store.put_bytes(bucket, "a", b"a, rewritten")
    assert store.get_bytes(bucket, "a") == b"a, rewritten"
    assert store.get_bytes(bucket, "a/b", (0, 4)) == b"under"


def test_every_shape_lists_sorted_and_by_prefix(store: ObjectStore, bucket: str) -> None:
    keys = sorted(SHAPES)
    _put_all(store, bucket, list(SHAPES))
    assert [i.key for i in store.list(bucket)] == keys
    prefixes = ["a", "a/", "a//", "/", "dir/", "long/", f"long/{LONG[:150]}", f"long/{LONG}/"]
    for prefix in [*prefixes, f"long/{WIDE[:60]}", "res/.hybridjobs-", "res/", "nothing"]:
        expected = [k for k in keys if k.startswith(prefix)]
        assert [i.key for i in store.list(bucket, prefix)] == expected, prefix
    sizes = {i.key: i.size for i in store.list(bucket)}
    assert sizes == {k: len(v) for k, v in SHAPES.items()}


def test_delimiter_listing_over_every_shape(store: ObjectStore, bucket: str) -> None:
    from hybridjobs.services.s3_listing import list_page

    _put_all(store, bucket, list(SHAPES))

    def page(prefix: str) -> tuple[list[str], list[str]]:
        found = list_page(store.list(bucket, prefix), prefix=prefix, delimiter="/")
        return [i.key for i in found.objects], found.common_prefixes

    assert page("") == (["a", "res"], ["/", "a/", "dir/", "long/", "res/"])
    assert page("a/") == (["a/", "a/b"], ["a//", "a/b/"])
    assert page("a//") == (["a//d"], [])
    assert page("dir/") == (["dir/", "dir/x"], [])
    assert page("long/") == ([f"long/{LONG}", f"long/{WIDE}"], [f"long/{LONG}/"])
    assert page("res/") == (["res/.hybridjobs-self", "res/.hybridjobs-tmp-1"], [])


@pytest.mark.parametrize("gone", sorted(SHAPES))
def test_deleting_one_shape_leaves_the_others(store: ObjectStore, bucket: str, gone: str) -> None:
    _put_all(store, bucket, list(SHAPES))
    store.delete(bucket, gone)
    rest = sorted(k for k in SHAPES if k != gone)
    assert [i.key for i in store.list(bucket)] == rest
    for key in rest:
        assert store.get_bytes(bucket, key) == SHAPES[key], key
    with pytest.raises(NoSuchKey):
        store.head(bucket, gone)
    store.delete(bucket, gone)  # again: not an error
    for key in rest:
        store.delete(bucket, key)
    assert list(store.list(bucket)) == []
    store.delete_bucket(bucket)


def test_copy_between_shapes(store: ObjectStore, bucket: str) -> None:
    _put_all(store, bucket, ["a", "dir/", f"long/{LONG}"])
    store.copy(bucket, "a", bucket, "a/copy")  # onto a path below the source itself
    store.copy(bucket, f"long/{LONG}", bucket, "short")
    store.copy(bucket, "short", bucket, f"{LONG}/again")
    store.copy(bucket, "dir/", bucket, "dir2/")
    info = store.copy(bucket, "a/copy", bucket, "a/copy/")
    assert info.etag == _quoted_md5(SHAPES["a"])
    assert store.get_bytes(bucket, "a") == store.get_bytes(bucket, "a/copy") == SHAPES["a"]
    assert store.get_bytes(bucket, "a/copy/") == SHAPES["a"]
    assert store.get_bytes(bucket, f"{LONG}/again") == SHAPES[f"long/{LONG}"]
    assert store.get_bytes(bucket, "dir2/") == b""
    assert [i.key for i in store.list(bucket)] == sorted(
        ["a", "a/copy", "a/copy/", "dir/", "dir2/", f"long/{LONG}", "short", f"{LONG}/again"]
    )


def test_shapes_round_trip_through_files(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    _put_all(store, bucket, ["a", "a/b"])
    store.get_to_file(bucket, "a", tmp_path / "got-a")
    store.get_to_file(bucket, "a/b", tmp_path / "got-ab")
    assert (tmp_path / "got-a").read_bytes() == SHAPES["a"]
    assert (tmp_path / "got-ab").read_bytes() == SHAPES["a/b"]
    store.put_file(bucket, "a/b/c", tmp_path / "got-a")
    store.put_file(bucket, "a/b/", tmp_path / "got-ab")
    assert store.get_bytes(bucket, "a/b/c") == SHAPES["a"]
    assert store.get_bytes(bucket, "a/b/") == SHAPES["a/b"]


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


@pytest.mark.parametrize("key", ["", "a/../b", "..", ".", "a/./b", "nul\0byte", "k" * 1025])
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


def test_local_etag_tracks_external_changes(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    local.put_bytes("b", "k", b"one")
    (tmp_path / "objects/b/k").write_bytes(b"changed by hand")
    assert local.head("b", "k").etag == _quoted_md5(b"changed by hand")


def test_local_layout_keeps_plain_paths_and_moves_clashes_aside(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    local = LocalObjectStore(root)
    local.put_bytes("b", "model", b"weights v1")
    assert (root / "b/model").read_bytes() == b"weights v1"  # a plain file
    local.put_bytes("b", "model/shard0", b"shard")
    assert (root / "b/model/shard0").read_bytes() == b"shard"
    assert (root / "b/model/.hybridjobs-self").read_bytes() == b"weights v1"
    assert local.path_of("b", "model") == root / "b/model/.hybridjobs-self"
    local.put_bytes("b", "model/", b"")
    assert (root / "b/model/.hybridjobs-empty").read_bytes() == b""
    local.put_bytes("b", "x/" + LONG, b"long")
    side = local.path_of("b", "x/" + LONG)
    assert side.is_relative_to(root / "b/.hybridjobs-keys") and side.read_bytes() == b"long"
    assert max(len(part.encode()) for part in side.parts) <= 255
    # Deleting what made 'model' a directory puts the object back at its plain path.
    local.delete("b", "model/shard0")
    local.delete("b", "model/")
    assert (root / "b/model").is_file() and local.get_bytes("b", "model") == b"weights v1"
    local.delete("b", "x/" + LONG)
    assert sorted(p.name for p in (root / "b").iterdir()) == ["model"]
    assert [i.key for i in local.list("b")] == ["model"]


def test_local_moving_a_file_aside_keeps_its_etag_and_mtime(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    before = local.put_bytes("b", "a", b"content")
    local.put_bytes("b", "a/b", b"other")
    assert local.head("b", "a") == before
    local.delete("b", "a/b")
    assert local.head("b", "a") == before
    # A fresh instance (no etag cache) agrees.
    assert LocalObjectStore(tmp_path / "objects").head("b", "a") == before


def test_local_ignores_reserved_names_made_by_hand(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    local = LocalObjectStore(root)
    local.put_bytes("b", "d/k", b"1")
    (root / "b/.hybridjobs-self").write_bytes(b"no key is empty")
    (root / "b/d/.hybridjobs-other").write_bytes(b"reserved")
    (root / "b/.hybridjobs-keys").mkdir()
    (root / "b/.hybridjobs-keys/zz.k").write_bytes(b"not hex")
    (root / "b/.hybridjobs-keys/6b.txt").write_bytes(b"no suffix")
    assert [i.key for i in local.list("b")] == ["d/k"]


def test_local_concurrent_reshaping_never_hides_a_key(tmp_path: Path) -> None:
    """Readers of 'a' keep finding it while writers make 'a' a directory and back."""
    local = LocalObjectStore(tmp_path / "objects")
    local.put_bytes("b", "a", b"stable")
    stop = threading.Event()
    problems: list[BaseException] = []

    def reshape() -> None:
        other = LocalObjectStore(tmp_path / "objects")  # as another process would
        try:
            for n in range(150):
                other.put_bytes("b", f"a/{n % 3}", b"x")
                other.delete("b", f"a/{n % 3}")
        except BaseException as exc:  # pragma: no cover - reported below
            problems.append(exc)
        finally:
            stop.set()

    def read() -> None:
        try:
            while not stop.is_set():
                assert local.get_bytes("b", "a") == b"stable"
                assert local.head("b", "a").size == 6
                assert "a" in {i.key for i in local.list("b")}
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=reshape), *(threading.Thread(target=read) for _ in range(3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert problems == []
    assert [i.key for i in local.list("b")] == ["a"]
    assert (tmp_path / "objects/b/a").is_file()


def test_local_side_area_lists_by_long_prefixes(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    keys = [LONG, LONG + "x", LONG[:250] + "y", "p/" + "q" * 900, "p/" + "q" * 899 + "r"]
    for key in keys:
        local.put_bytes("b", key, key[-1].encode())
    for prefix in ("", LONG[:100], LONG[:200], LONG, LONG + "x", "p/" + "q" * 500, "p/q"):
        assert [i.key for i in local.list("b", prefix)] == sorted(
            k for k in keys if k.startswith(prefix)
        ), len(prefix)
    for key in keys:
        assert local.get_bytes("b", key) == key[-1].encode()


# -- checkpoints -------------------------------------------------------------------------


def test_checkpoint_that_changed_from_file_to_directory_syncs(tmp_path: Path) -> None:
    from hybridjobs.jobdata import restore_checkpoints, save_checkpoints

    local = LocalObjectStore(tmp_path / "objects")
    uri = "s3://ckpt/job"
    first = tmp_path / "job1"
    first.mkdir()
    (first / "model").write_text("file")
    assert save_checkpoints(local, uri, [first]) == 1
    second = tmp_path / "job2"
    assert restore_checkpoints(local, uri, second) == 1
    (second / "model").unlink()
    (second / "model").mkdir()
    (second / "model" / "shard0").write_text("dir")
    errors: list[str] = []
    assert save_checkpoints(local, uri, [second], errors) == 1
    assert errors == []
    assert [i.key for i in local.list("ckpt")] == ["job/model", "job/model/shard0"]
    # The next job gets the newest layout: the directory.
    third = tmp_path / "job3"
    restore_errors: list[str] = []
    assert restore_checkpoints(local, uri, third, restore_errors) == 1
    assert (third / "model" / "shard0").read_text() == "dir"
    assert len(restore_errors) == 1 and "'job/model'" in restore_errors[0]
    # Two instances writing 'x' and 'x/y': both are kept.
    algo1, algo2 = tmp_path / "algo-1", tmp_path / "algo-2"
    (algo1 / "x").mkdir(parents=True)
    (algo1 / "x" / "y").write_text("1")
    algo2.mkdir()
    (algo2 / "x").write_text("2")
    assert save_checkpoints(local, uri, [algo1, algo2]) == 2
    assert local.get_bytes("ckpt", "job/x") == b"2"
    assert local.get_bytes("ckpt", "job/x/y") == b"1"


def test_checkpoint_sync_errors_are_reported_not_raised(tmp_path: Path) -> None:
    from hybridjobs.jobdata import save_checkpoints

    class Failing(LocalObjectStore):
        def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
            if key.endswith("bad"):
                raise ObjectStoreError("disk on fire")
            return super().put_file(bucket, key, path)

    store = Failing(tmp_path / "objects")
    directory = tmp_path / "ckpt"
    directory.mkdir()
    for name in ("a-bad", "b-good", "c-bad"):
        (directory / name).write_text(name)
    errors: list[str] = []
    assert save_checkpoints(store, "s3://ckpt/run", [directory], errors) == 1
    assert len(errors) == 2 and all("disk on fire" in e for e in errors)
    assert [i.key for i in store.list("ckpt")] == ["run/b-good"]
    assert save_checkpoints(store, "not a uri", [directory]) == 0


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
