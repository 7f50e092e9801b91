"""PrefixedObjectStore beyond the shared contract (tests/unit/test_objects.py): its layout
in the real bucket, what several instances share, names it refuses, and how settings
choose it (``--objects s3://BUCKET/PREFIX``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hybridjobs.objects import (
    STAGING_PREFIX,
    InvalidObjectName,
    LocalObjectStore,
    NoSuchBucket,
    download_prefix,
    open_object_store,
)
from hybridjobs.objects.prefixed import PrefixedObjectStore
from hybridjobs.objects.s3 import S3ObjectStore
from hybridjobs.server import open_objects
from hybridjobs.settings import Settings


@pytest.fixture
def real(tmp_path: Path) -> LocalObjectStore:
    """The "real" store under the prefixed one (a local directory: easy to look at)."""
    return LocalObjectStore(tmp_path / "real")


def test_layout_in_the_real_bucket(real: LocalObjectStore) -> None:
    store = PrefixedObjectStore(real, "shared", "/team/a/")
    store.create_bucket("b1")
    store.put_bytes("b1", "dir/k.txt", b"v")
    store.put_bytes("b2", "k", b"w")  # a put creates its bucket
    assert [i.key for i in real.list("shared")] == [
        "team/a/.hybridjobs-buckets/b1",
        "team/a/.hybridjobs-buckets/b2",
        "team/a/b1/dir/k.txt",
        "team/a/b2/k",
    ]
    assert store.list_buckets() == ["b1", "b2"]
    assert store.config() == {
        "kind": "prefixed",
        "bucket": "shared",
        "prefix": "team/a",
        "inner": f'{{"kind": "local", "root": "{real.root}"}}',
    }


def test_an_empty_prefix_starts_at_the_root(real: LocalObjectStore) -> None:
    store = PrefixedObjectStore(real, "shared")
    store.put_bytes("b", "k", b"v")
    assert [i.key for i in real.list("shared")] == [".hybridjobs-buckets/b", "b/k"]


def test_instances_on_one_prefix_share_everything(real: LocalObjectStore) -> None:
    one = PrefixedObjectStore(real, "shared", "p")
    other = PrefixedObjectStore(real, "shared", "p")
    one.create_bucket("b")
    one.put_bytes("b", "k", b"v")
    assert other.bucket_exists("b") and other.get_bytes("b", "k") == b"v"
    other.delete("b", "k")
    other.delete_bucket("b")
    assert not one.bucket_exists("b") and one.list_buckets() == []


def test_prefixes_are_isolated(real: LocalObjectStore) -> None:
    one = PrefixedObjectStore(real, "shared", "p")
    other = PrefixedObjectStore(real, "shared", "p2")
    one.put_bytes("b", "k", b"v")
    assert other.list_buckets() == [] and not other.bucket_exists("b")
    with pytest.raises(NoSuchBucket):
        other.list("b")


def test_a_missing_real_bucket_holds_no_buckets(real: LocalObjectStore) -> None:
    store = PrefixedObjectStore(real, "not-yet")
    assert store.list_buckets() == [] and not store.bucket_exists("b")
    with pytest.raises(NoSuchBucket):
        store.get_bytes("b", "k")


@pytest.mark.parametrize("bucket", ["", ".hybridjobs-buckets", "a/b", "-dash"])
def test_bucket_names_that_are_not_one_segment_are_refused(
    real: LocalObjectStore, bucket: str
) -> None:
    store = PrefixedObjectStore(real, "shared", "p")
    with pytest.raises(InvalidObjectName):
        store.create_bucket(bucket)
    with pytest.raises(InvalidObjectName):
        store.put_bytes(bucket, "k", b"v")
    assert not store.bucket_exists(bucket)


@pytest.mark.parametrize("key", ["", "a/../../other-bucket/k", "..", "nul\0byte", "k" * 1025])
def test_keys_that_could_leave_their_bucket_are_refused(real: LocalObjectStore, key: str) -> None:
    store = PrefixedObjectStore(real, "shared", "p")
    store.create_bucket("b")
    with pytest.raises(InvalidObjectName):
        store.put_bytes("b", key, b"v")


def test_the_real_bucket_name_is_checked(real: LocalObjectStore) -> None:
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="not a bucket name"):
            PrefixedObjectStore(real, bad)


def test_config_rebuilds_the_store(real: LocalObjectStore) -> None:
    store = PrefixedObjectStore(real, "shared", "p")
    store.put_bytes("b", "k", b"v")
    rebuilt = open_object_store(store.config())
    assert isinstance(rebuilt, PrefixedObjectStore)
    assert rebuilt.get_bytes("b", "k") == b"v"


def test_download_prefix_skips_staged_uploads(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put_bytes("b", "data/x.csv", b"x")
    store.put_bytes("b", f"{STAGING_PREFIX}0123/part-00001-abc", b"staged")
    fetched = download_prefix(store, "b", "", tmp_path / "channel")
    assert [p.relative_to(tmp_path / "channel").as_posix() for p in fetched] == ["data/x.csv"]


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["bucket/prefix", "http://host/bucket", "s3://", "s3:///p"])
def test_objects_setting_must_be_an_s3_location(value: str) -> None:
    with pytest.raises(ValidationError, match="objects"):
        Settings(objects=value)


def test_objects_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDJOBS_OBJECTS", "s3://real/some/prefix")
    assert Settings().objects == "s3://real/some/prefix"
    monkeypatch.setenv("HYBRIDJOBS_OBJECTS", "")
    assert Settings().objects is None


def test_open_objects_chooses_the_store(tmp_path: Path) -> None:
    local = open_objects(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalObjectStore) and local.root == tmp_path / "objects"
    endpoint = "http://127.0.0.1:1"  # nothing is called while the store is built
    plain = open_objects(Settings(data_dir=tmp_path, s3_endpoint_url=endpoint))
    assert isinstance(plain, S3ObjectStore)
    prefixed = open_objects(
        Settings(data_dir=tmp_path, s3_endpoint_url=endpoint, objects="s3://real/a/b")
    )
    assert isinstance(prefixed, PrefixedObjectStore)
    config = prefixed.config()
    assert (config["bucket"], config["prefix"]) == ("real", "a/b")
    assert endpoint in config["inner"]
