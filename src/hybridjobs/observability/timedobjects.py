"""An object store that times every call of the store it wraps (the one seam where the
object-store latency metric is taken)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from hybridjobs.objects.base import ByteRange, ObjectInfo, ObjectStore
from hybridjobs.observability.metrics import OBJECT_SECONDS

T = TypeVar("T")


class TimedObjectStore:
    """``inner`` with each call's duration observed in ``hybridjobs_object_store_seconds``
    (failed calls too). Behaves exactly as ``inner`` otherwise; ``list`` is timed until
    its first object (the call's latency, not the caller's consumption)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    def _timed(self, call: str, run: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return run()
        finally:
            OBJECT_SECONDS.labels(call).observe(time.perf_counter() - started)

    def config(self) -> dict[str, str]:
        return self.inner.config()

    def create_bucket(self, bucket: str) -> None:
        self._timed("create_bucket", lambda: self.inner.create_bucket(bucket))

    def bucket_exists(self, bucket: str) -> bool:
        return self._timed("bucket_exists", lambda: self.inner.bucket_exists(bucket))

    def list_buckets(self) -> list[str]:
        return self._timed("list_buckets", self.inner.list_buckets)

    def delete_bucket(self, bucket: str) -> None:
        self._timed("delete_bucket", lambda: self.inner.delete_bucket(bucket))

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        return self._timed("put_bytes", lambda: self.inner.put_bytes(bucket, key, data))

    def put_file(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        return self._timed("put_file", lambda: self.inner.put_file(bucket, key, path))

    def get_bytes(self, bucket: str, key: str, byte_range: ByteRange | None = None) -> bytes:
        return self._timed("get_bytes", lambda: self.inner.get_bytes(bucket, key, byte_range))

    def get_to_file(self, bucket: str, key: str, path: Path) -> None:
        self._timed("get_to_file", lambda: self.inner.get_to_file(bucket, key, path))

    def head(self, bucket: str, key: str) -> ObjectInfo:
        return self._timed("head", lambda: self.inner.head(bucket, key))

    def delete(self, bucket: str, key: str) -> None:
        self._timed("delete", lambda: self.inner.delete(bucket, key))

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> ObjectInfo:
        return self._timed(
            "copy", lambda: self.inner.copy(src_bucket, src_key, dst_bucket, dst_key)
        )

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._timed("list", lambda: self.inner.list(bucket, prefix))
