"""Durable staging of multipart uploads, in a directory of their own.

Layout: ``ROOT/<upload id>/upload.json`` (bucket, key, start time, upload-time
attributes) and one file per part, ``part-<number:05d>-<md5 hex>``: the part's ETag is in
its name, so a part and its ETag appear together, atomically. Everything survives a
restart; an upload ends when it is completed or aborted (its directory is removed).
ROOT sits outside the object namespace, so bucket listings never show staged parts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridjobs.objects.local import atomic_write
from hybridjobs.services.s3_core import S3Error
from hybridjobs.services.s3_meta import ObjectMeta

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART_FILE = re.compile(r"^part-(\d{5})-([0-9a-f]{32})$")
_CHUNK = 1 << 20


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
    """One stored part; ``etag`` is the quoted MD5 of its bytes."""

    number: int
    etag: str
    size: int
    last_modified: float
    path: Path


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        UploadId=upload_id,
    )


class MultipartStaging:
    """Uploads in progress under ``root`` (see the module docstring). Thread-safe for
    distinct parts; concurrent writes of the same part number keep the newest."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def create(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        """Start an upload of ``bucket``/``key``; ``meta`` applies to the final object."""
        upload = Upload(secrets.token_hex(16), bucket, key, time.time(), meta)
        record = {
            "bucket": bucket,
            "key": key,
            "initiated": upload.initiated,
            "content_type": meta.content_type,
            "metadata": meta.metadata,
            "headers": meta.headers,
        }
        data = json.dumps(record).encode()
        atomic_write(self._root / upload.upload_id / "upload.json", lambda out: out.write(data))
        return upload

    def get(self, upload_id: str, bucket: str, key: str) -> Upload:
        """The upload ``upload_id`` of ``bucket``/``key``; ``NoSuchUpload`` otherwise."""
        if not _UPLOAD_ID.match(upload_id):
            raise no_such_upload(upload_id)
        try:
            raw: dict[str, Any] = json.loads((self._root / upload_id / "upload.json").read_text())
        except (OSError, ValueError):
            raise no_such_upload(upload_id) from None
        if raw.get("bucket") != bucket or raw.get("key") != key:
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
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        directory = self._root / upload.upload_id
        if not (directory / "upload.json").is_file():
            raise no_such_upload(upload.upload_id)
        path = directory / f"part-{number:05d}-{digest}"
        atomic_write(path, lambda out: out.write(data))
        for stale in self._files_of(directory, number):
            if stale != path:
                stale.unlink(missing_ok=True)
        return self._part(path, number, digest)

    def parts(self, upload: Upload) -> list[Part]:
        """The stored parts, by ascending number (the newest file per number)."""
        directory = self._root / upload.upload_id
        newest: dict[int, Part] = {}
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            raise no_such_upload(upload.upload_id) from None
        for entry in entries:
            match = _PART_FILE.match(entry.name)
            if match is None:
                continue
            try:
                part = self._part(Path(entry.path), int(match[1]), match[2])
            except FileNotFoundError:
                continue
            known = newest.get(part.number)
            if known is None or part.last_modified > known.last_modified:
                newest[part.number] = part
        return [newest[number] for number in sorted(newest)]

    def assemble(self, upload: Upload, wanted: Sequence[tuple[int, str]]) -> tuple[Path, str]:
        """Concatenate the ``(number, etag)`` parts the client lists into one file.

        Returns the file (inside the upload's directory; :meth:`discard` removes it) and
        the multipart ETag ``"<md5 of the parts' binary md5s>-<count>"``. Raises S3's
        ``MalformedXML`` (no parts), ``InvalidPartOrder``, ``InvalidPart`` (unknown part or
        wrong ETag) or ``EntityTooSmall`` (a part other than the last under 5 MiB).
        """
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
                raise S3Error(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not "
                    "have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag.",
                    PartNumber=number,
                    ETag=etag,
                    UploadId=upload.upload_id,
                )
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
        target = self._root / upload.upload_id / f"assembled-{secrets.token_hex(8)}"

        def concatenate(out: Any) -> None:
            for part in chosen:
                with open(part.path, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)

        atomic_write(target, concatenate)
        combined = hashlib.md5(usedforsecurity=False)
        for part in chosen:
            combined.update(bytes.fromhex(part.etag.strip('"')))
        return target, f'"{combined.hexdigest()}-{len(chosen)}"'

    def discard(self, upload_id: str) -> None:
        """Remove the upload and its parts (``NoSuchUpload`` when it does not exist)."""
        if not _UPLOAD_ID.match(upload_id) or not (self._root / upload_id).is_dir():
            raise no_such_upload(upload_id)
        shutil.rmtree(self._root / upload_id, ignore_errors=True)

    @staticmethod
    def _files_of(directory: Path, number: int) -> list[Path]:
        return list(directory.glob(f"part-{number:05d}-*"))

    @staticmethod
    def _part(path: Path, number: int, digest: str) -> Part:
        stat = path.stat()
        return Part(number, f'"{digest}"', stat.st_size, stat.st_mtime, path)
