"""Durable staging of multipart uploads, as objects of the object store itself.

An upload of ``BUCKET``/``KEY`` lives in ``BUCKET``, under the reserved prefix
:data:`~hybridjobs.objects.STAGING_PREFIX` (which the S3 surface never lists, serves or
accepts from clients):

* ``.hybridjobs-uploads/<upload id>/upload.json`` -- the upload's record (key, start
  time, upload-time attributes);
* ``.hybridjobs-uploads/<upload id>/part-<number:05d>-<md5 hex>`` -- one object per part:
  the part's ETag is in its name, so a part and its ETag appear together, atomically.

So staging is exactly as durable and as shared as the objects: an upload begun on one API
process can be continued and completed on another, and survives restarts. An upload ends
when it is completed or aborted (its objects are deleted), or with its bucket. Completion
assembles the parts in a temporary file (the system's temporary directory, removed when
the request ends) and stores it as the object.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridjobs.objects import STAGING_PREFIX, NoSuchBucket, NoSuchKey, ObjectStore
from hybridjobs.services.s3_core import S3Error
from hybridjobs.store.objectmetabase import ObjectMeta

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART_NAME = re.compile(r"^part-(\d{5})-([0-9a-f]{32})$")
_RECORD = "upload.json"


@dataclass(frozen=True)
class Upload:
    """An upload in progress."""

    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: ObjectMeta


@dataclass(frozen=True)
class Part:
    """One stored part; ``etag`` is the quoted MD5 of its bytes, ``key`` its object."""

    number: int
    etag: str
    size: int
    last_modified: float
    key: str


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        UploadId=upload_id,
    )


def _folder(upload_id: str) -> str:
    return f"{STAGING_PREFIX}{upload_id}/"


def _part_prefix(upload_id: str, number: int) -> str:
    return f"{_folder(upload_id)}part-{number:05d}-"


class MultipartStaging:
    """Uploads in progress in ``objects`` (see the module docstring). Safe for concurrent
    use by several threads and processes; concurrent writes of the same part number keep
    the newest."""

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects

    def create(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        """Start an upload of ``bucket``/``key``; ``meta`` applies to the final object."""
        upload = Upload(secrets.token_hex(16), bucket, key, time.time(), meta)
        record = {
            "key": key,
            "initiated": upload.initiated,
            "content_type": meta.content_type,
            "metadata": meta.metadata,
            "headers": meta.headers,
        }
        record_key = _folder(upload.upload_id) + _RECORD
        self._objects.put_bytes(bucket, record_key, json.dumps(record).encode())
        return upload

    def get(self, upload_id: str, bucket: str, key: str) -> Upload:
        """The upload ``upload_id`` of ``bucket``/``key``; ``NoSuchUpload`` otherwise."""
        if not _UPLOAD_ID.match(upload_id):
            raise no_such_upload(upload_id)
        try:
            data = self._objects.get_bytes(bucket, _folder(upload_id) + _RECORD)
            raw: dict[str, Any] = json.loads(data)
        except (NoSuchKey, NoSuchBucket, ValueError):
            raise no_such_upload(upload_id) from None
        if not isinstance(raw, dict) or raw.get("key") != key:
            raise no_such_upload(upload_id)
        meta = ObjectMeta(
            content_type=raw.get("content_type"),
            metadata=dict(raw.get("metadata") or {}),
            headers=dict(raw.get("headers") or {}),
        )
        return Upload(upload_id, bucket, key, float(raw.get("initiated", 0.0)), meta)

    def put_part(self, upload: Upload, number: int, data: bytes) -> Part:
        """Store part ``number`` (1-10000), replacing an earlier part of that number."""
        if not 1 <= number <= MAX_PART_NUMBER:
            raise S3Error(
                "InvalidArgument",
                f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
                ArgumentName="partNumber",
                ArgumentValue=number,
            )
        self._require(upload)
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        key = _part_prefix(upload.upload_id, number) + digest
        info = self._objects.put_bytes(upload.bucket, key, data)
        for stale in self._objects.list(upload.bucket, _part_prefix(upload.upload_id, number)):
            if stale.key != key and stale.last_modified < info.last_modified:
                self._objects.delete(upload.bucket, stale.key)
        return Part(number, f'"{digest}"', info.size, info.last_modified, key)

    def parts(self, upload: Upload) -> list[Part]:
        """The stored parts, by ascending number (the newest object per number)."""
        newest: dict[int, Part] = {}
        try:
            infos = list(self._objects.list(upload.bucket, _folder(upload.upload_id) + "part-"))
        except NoSuchBucket:
            raise no_such_upload(upload.upload_id) from None
        for info in infos:
            match = _PART_NAME.match(info.key.rpartition("/")[2])
            if match is None:
                continue
            part = Part(int(match[1]), f'"{match[2]}"', info.size, info.last_modified, info.key)
            known = newest.get(part.number)
            if known is None or (part.last_modified, part.key) > (known.last_modified, known.key):
                newest[part.number] = part
        return [newest[number] for number in sorted(newest)]

    @contextlib.contextmanager
    def assembled(
        self, upload: Upload, wanted: Sequence[tuple[int, str]]
    ) -> Iterator[tuple[Path, str]]:
        """The ``(number, etag)`` parts the client lists, concatenated into a temporary
        file that exists while the context is open.

        Yields the file and the multipart ETag ``"<md5 of the parts' binary md5s>-<count>"``.
        Raises S3's ``MalformedXML`` (no parts), ``InvalidPartOrder``, ``InvalidPart``
        (unknown part or wrong ETag) or ``EntityTooSmall`` (a part other than the last
        under 5 MiB).
        """
        chosen = self._chosen(upload, wanted)
        combined = hashlib.md5(usedforsecurity=False)
        for part in chosen:
            combined.update(bytes.fromhex(part.etag.strip('"')))
        with tempfile.TemporaryDirectory(prefix="hybridjobs-assemble-") as directory:
            target = Path(directory) / "object"
            with open(target, "wb") as out:
                for part in chosen:
                    try:
                        out.write(self._objects.get_bytes(upload.bucket, part.key))
                    except (NoSuchKey, NoSuchBucket):  # replaced or aborted meanwhile
                        raise _invalid_part(upload, part.number, part.etag) from None
            yield target, f'"{combined.hexdigest()}-{len(chosen)}"'

    def discard(self, upload: Upload, *, missing_ok: bool = False) -> None:
        """Remove the upload and its parts; ``NoSuchUpload`` when it is already gone,
        unless ``missing_ok`` (after a completion that another process finished too)."""
        if not missing_ok:
            self._require(upload)
        self._delete_folder(upload.bucket, _folder(upload.upload_id))

    def discard_all(self, bucket: str) -> None:
        """Remove every upload of ``bucket`` (before the bucket itself goes)."""
        self._delete_folder(bucket, STAGING_PREFIX)

    # -- internals -------------------------------------------------------------------

    def _require(self, upload: Upload) -> None:
        """``NoSuchUpload`` unless the upload's record is still there."""
        try:
            self._objects.head(upload.bucket, _folder(upload.upload_id) + _RECORD)
        except (NoSuchKey, NoSuchBucket):
            raise no_such_upload(upload.upload_id) from None

    def _delete_folder(self, bucket: str, folder: str) -> None:
        """Delete every object under ``folder``, the upload records last (so an upload is
        never left without its record while it still has parts)."""
        try:
            keys = [info.key for info in self._objects.list(bucket, folder)]
        except NoSuchBucket:
            return
        for key in sorted(keys, key=lambda name: name.endswith("/" + _RECORD)):
            self._objects.delete(bucket, key)

    def _chosen(self, upload: Upload, wanted: Sequence[tuple[int, str]]) -> list[Part]:
        """The stored parts ``wanted`` names, checked as :meth:`assembled` describes."""
        if not wanted:
            raise S3Error(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our "
                "published schema",
            )
        numbers = [number for number, _ in wanted]
        if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order.")
        stored = {part.number: part for part in self.parts(upload)}
        chosen: list[Part] = []
        for number, etag in wanted:
            part = stored.get(number)
            if part is None or part.etag.strip('"') != etag.strip('"'):
                raise _invalid_part(upload, number, etag)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise S3Error(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    ProposedSize=part.size,
                    MinSizeAllowed=MIN_PART_SIZE,
                    PartNumber=part.number,
                    ETag=part.etag,
                )
        return chosen


def _invalid_part(upload: Upload, number: int, etag: str) -> S3Error:
    return S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
        PartNumber=number,
        ETag=etag,
        UploadId=upload.upload_id,
    )
