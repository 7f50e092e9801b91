"""The local object store keeps a lock file per existing bucket only: requests naming a
bucket that does not exist leave none behind, and deleting a bucket removes its lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jobs.conftest import wait_until
from support.server import LiveServer

LOCATION = {"LocationConstraint": "us-west-2"}


def _locks(server: LiveServer) -> list[str]:
    locks = server.data_dir / "objects" / ".hybridjobs-locks"
    return sorted(path.name for path in locks.iterdir()) if locks.is_dir() else []


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


def test_requests_for_missing_buckets_make_no_lock_files(server: LiveServer) -> None:
    s3 = server.client("s3")
    before = _locks(server)
    missing = "no-such-bucket-for-locks"
    assert _code(s3.get_object, Bucket=missing, Key="a") == "NoSuchBucket"
    assert _code(s3.head_object, Bucket=missing, Key="a") in ("404", "NoSuchBucket")
    assert _code(s3.list_objects_v2, Bucket=missing) == "NoSuchBucket"
    assert _code(s3.delete_bucket, Bucket=missing) == "NoSuchBucket"
    try:  # S3 answers NoSuchBucket; a store may also treat it as a no-op delete
        s3.delete_object(Bucket=missing, Key="a/b")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchBucket"
    assert _code(s3.create_multipart_upload, Bucket=missing, Key="big") == "NoSuchBucket"
    assert _locks(server) == before
    assert not (server.data_dir / "objects" / missing).exists()


def test_deleting_a_bucket_removes_its_lock_file(server: LiveServer) -> None:
    s3 = server.client("s3")
    s3.create_bucket(Bucket="locked-bucket", CreateBucketConfiguration=LOCATION)
    s3.put_object(Bucket="locked-bucket", Key="dir/obj", Body=b"x")
    assert "locked-bucket" in _locks(server)
    assert _code(s3.delete_bucket, Bucket="locked-bucket") == "BucketNotEmpty"
    s3.delete_object(Bucket="locked-bucket", Key="dir/obj")
    s3.delete_bucket(Bucket="locked-bucket")
    assert "locked-bucket" not in _locks(server)
    assert _code(s3.list_objects_v2, Bucket="locked-bucket") == "NoSuchBucket"
    assert "locked-bucket" not in _locks(server)

    s3.create_bucket(Bucket="locked-bucket", CreateBucketConfiguration=LOCATION)
    s3.put_object(Bucket="locked-bucket", Key="again", Body=b"y")
    assert s3.get_object(Bucket="locked-bucket", Key="again")["Body"].read() == b"y"
    assert "locked-bucket" in _locks(server)


def _blocked_on(path: Path) -> bool:
    """Whether some process waits for a lock on ``path`` (a ``->`` line of /proc/locks)."""
    inode = f":{path.stat().st_ino} "
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and inode in line for line in lines)


def test_a_waiter_on_a_deleted_buckets_lock_finds_no_bucket(tmp_path: Path) -> None:
    """A process waiting for a bucket's lock while the bucket is deleted gets
    NoSuchBucket, and makes no new lock file."""
    import threading

    from hybridjobs.objects.base import NoSuchBucket
    from hybridjobs.objects.local import LocalObjectStore

    store = LocalObjectStore(tmp_path)
    store.create_bucket("gone")
    outcome: list[BaseException | None] = []
    entered = threading.Event()

    def delete_object_while_deleted() -> None:
        entered.set()
        try:
            store.delete("gone", "k")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    lock = tmp_path / ".hybridjobs-locks" / "gone"
    with store._lock("gone"):  # the deleter holds the lock while it removes the bucket
        waiter = threading.Thread(target=delete_object_while_deleted)
        waiter.start()
        assert entered.wait(5)
        wait_until(lambda: _blocked_on(lock), 10, "the waiter blocked on the bucket's lock")
        (tmp_path / "gone").rmdir()
        (tmp_path / ".hybridjobs-locks" / "gone").unlink()
    waiter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], NoSuchBucket), outcome
    assert not (tmp_path / ".hybridjobs-locks" / "gone").exists()
