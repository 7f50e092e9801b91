"""One page of an S3 object listing (ListObjects and ListObjectsV2), as a pure function.

S3 semantics: keys ascend; with a delimiter, keys that contain it after the prefix roll up
into one common prefix (``prefix + up to and including the delimiter``), which counts as
one entry toward ``max_keys``; a page resumes strictly after its marker, and a marker
that is a common prefix skips every key under it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from hybridjobs.objects import ObjectInfo
from hybridjobs.services.s3_core import S3Error

MAX_KEYS = 1000


@dataclass
class Page:
    """Objects and common prefixes of one page, in key order; ``next_marker`` is the last
    entry returned when the listing was cut short (``None`` otherwise)."""

    objects: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    next_marker: str | None = None

    @property
    def truncated(self) -> bool:
        return self.next_marker is not None

    @property
    def count(self) -> int:
        return len(self.objects) + len(self.common_prefixes)


def list_page(
    infos: Iterable[ObjectInfo],
    *,
    prefix: str = "",
    delimiter: str = "",
    marker: str = "",
    max_keys: int = MAX_KEYS,
) -> Page:
    """The page of ``infos`` (ascending, all starting with ``prefix``) after ``marker``."""
    page = Page()
    last_entry = ""
    for info in infos:
        key = info.key
        if marker and key <= marker:
            continue
        rolled = None
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                rolled = key[: cut + len(delimiter)]
                if rolled in (last_entry, marker):
                    continue
        if page.count >= max_keys:
            page.next_marker = last_entry or None
            return page
        if rolled is not None:
            page.common_prefixes.append(rolled)
            last_entry = rolled
        else:
            page.objects.append(info)
            last_entry = key
    return page


def max_keys_param(value: int | None) -> int:
    """``max-keys`` as S3 applies it: default and ceiling 1000; negative is an error."""
    if value is None:
        return MAX_KEYS
    if value < 0:
        raise S3Error("InvalidArgument", "max-keys must be a non-negative integer")
    return min(value, MAX_KEYS)


def encode_token(marker: str) -> str:
    """An opaque continuation token that resumes after ``marker``."""
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogateescape")).decode("ascii")


def decode_token(token: str) -> str:
    """The marker inside a token from :func:`encode_token`; ``InvalidArgument`` if bad."""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
        ) from None


def url_encode(value: str) -> str:
    """``encoding-type=url`` encoding of a key or prefix (botocore decodes it)."""
    return quote(value, safe="/")
