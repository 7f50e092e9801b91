"""The S3 surface's records in SQL (tables ``s3_buckets`` and ``s3_objects``): an
:class:`~hybridjobs.store.objectmetabase.ObjectMetaStore` shared by every API process."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from hybridjobs.objects import ObjectInfo
from hybridjobs.store import schema
from hybridjobs.store.objectmetabase import BucketRecord, ObjectMeta
from hybridjobs.store.sqlengine import SqlConnections

_LOOKUP_CHUNK = 500
"""Keys per ``IN`` list (well under SQLite's limit on bound parameters)."""


def key_hash(key: str) -> str:
    """The row key of object ``key``: the SHA-256 hex digest of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class SqlObjectMeta(SqlConnections):
    """Bucket and object records over SQLite or PostgreSQL (see
    :class:`~hybridjobs.store.objectmetabase.ObjectMetaStore` for the contract). Usable on
    its own (``SqlObjectMeta(url)``) or as a part of
    :class:`~hybridjobs.store.sql.SqlJobStore`, which shares its engine."""

    # -- objects ----------------------------------------------------------------------

    def object_meta(self, bucket: str, key: str, info: ObjectInfo) -> ObjectMeta:
        table = schema.s3_objects
        query = sa.select(table).where(table.c.bucket == bucket, table.c.key_hash == key_hash(key))
        with self._read() as connection:
            row = connection.execute(query).first()
        return _meta_of(row, info)

    def object_metas(self, bucket: str, infos: Sequence[ObjectInfo]) -> list[ObjectMeta]:
        hashes = [key_hash(info.key) for info in infos]
        rows: dict[str, Any] = {}
        table = schema.s3_objects
        with self._read() as connection:
            for chunk in _chunks(sorted(set(hashes))):
                query = sa.select(table).where(
                    table.c.bucket == bucket, table.c.key_hash.in_(chunk)
                )
                rows.update((row.key_hash, row) for row in connection.execute(query))
        return [
            _meta_of(rows.get(digest), info) for digest, info in zip(hashes, infos, strict=True)
        ]

    def put_object_meta(self, bucket: str, key: str, info: ObjectInfo, meta: ObjectMeta) -> None:
        if meta.is_empty():
            if self._has_object_meta(bucket, key):  # most objects have none: no write then
                self.drop_object_meta(bucket, key)
            return
        values: dict[str, Any] = {
            "bucket": bucket,
            "key_hash": key_hash(key),
            "size": info.size,
            "etag": info.etag,
            "content_type": meta.content_type,
            "metadata": dict(meta.metadata),
            "headers": dict(meta.headers),
            "s3_etag": meta.s3_etag,
            "tags": dict(meta.tags),
        }
        with self._write() as connection:
            connection.execute(_upsert(connection, schema.s3_objects, values))

    def drop_object_meta(self, bucket: str, key: str) -> None:
        table = schema.s3_objects
        with self._write() as connection:
            connection.execute(
                table.delete().where(table.c.bucket == bucket, table.c.key_hash == key_hash(key))
            )

    def _has_object_meta(self, bucket: str, key: str) -> bool:
        table = schema.s3_objects
        query = sa.select(table.c.key_hash).where(
            table.c.bucket == bucket, table.c.key_hash == key_hash(key)
        )
        with self._read() as connection:
            return connection.execute(query).first() is not None

    # -- buckets ----------------------------------------------------------------------

    def record_bucket(
        self, bucket: str, region: str, created: float, account_id: str | None = None
    ) -> None:
        values = {"bucket": bucket, "created_at": created, "region": region}
        values["account_id"] = account_id
        with self._write() as connection:
            connection.execute(_upsert(connection, schema.s3_buckets, values))

    def bucket_record(self, bucket: str) -> BucketRecord | None:
        table = schema.s3_buckets
        with self._read() as connection:
            row = connection.execute(sa.select(table).where(table.c.bucket == bucket)).first()
        return None if row is None else _bucket_of(row)

    def bucket_records(self) -> dict[str, BucketRecord]:
        with self._read() as connection:
            rows = connection.execute(sa.select(schema.s3_buckets)).all()
        return {row.bucket: _bucket_of(row) for row in rows}

    def drop_bucket_records(self, bucket: str) -> None:
        with self._write() as connection:
            connection.execute(
                schema.s3_objects.delete().where(schema.s3_objects.c.bucket == bucket)
            )
            connection.execute(
                schema.s3_buckets.delete().where(schema.s3_buckets.c.bucket == bucket)
            )


def _bucket_of(row: Any) -> BucketRecord:
    return BucketRecord(row.created_at, row.region, row.account_id)


def _meta_of(row: Any, info: ObjectInfo) -> ObjectMeta:
    """The record in ``row`` when it still describes ``info``, else an empty one."""
    if row is None:
        return ObjectMeta()
    fields = row._mapping
    if fields["size"] != info.size or fields["etag"] != info.etag:
        return ObjectMeta()
    return ObjectMeta(
        content_type=fields["content_type"],
        metadata=dict(fields["metadata"] or {}),
        headers=dict(fields["headers"] or {}),
        s3_etag=fields["s3_etag"],
        tags=dict(fields["tags"] or {}),
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _LOOKUP_CHUNK):
        yield items[start : start + _LOOKUP_CHUNK]


def _upsert(connection: sa.Connection, table: sa.Table, values: dict[str, Any]) -> sa.Insert:
    """An INSERT of ``values`` that replaces the row with the same primary key."""
    keys = [column.name for column in table.primary_key.columns]
    changed = {name: value for name, value in values.items() if name not in keys}
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return (
            pg_insert(table)
            .values(**values)
            .on_conflict_do_update(index_elements=keys, set_=changed)
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (
        sqlite_insert(table)
        .values(**values)
        .on_conflict_do_update(index_elements=keys, set_=changed)
    )
