"""S3's presigned URLs of Signature Version 2 (``?AWSAccessKeyId=…&Signature=…&Expires=…``).

boto3 presigns S3 URLs with SigV2 unless the client is configured for ``s3v4`` (it does so
for every region that still accepts SigV2, and for custom endpoints), so
``generate_presigned_url`` only works out of the box if these are verified too. botocore
computes the expected signature (:class:`botocore.auth.HmacV1QueryAuth`); the caller checks
the expiry. SigV2 in an ``Authorization`` header is not accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import HmacV1QueryAuth
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from hybridjobs.wire.sigv4 import SigV4Malformed

QUERY_NAMES = ("AWSAccessKeyId", "Signature", "Expires")


@dataclass(frozen=True)
class PresignedV2:
    """The SigV2 claims of a presigned URL: ``expires`` is seconds since the epoch."""

    access_key: str
    signature: str
    expires: int


def is_presigned_v2(query: dict[str, list[str]]) -> bool:
    """Whether the query carries any SigV2 presigning parameter."""
    return any(name in query for name in QUERY_NAMES)


def read_presigned_v2(query: dict[str, list[str]]) -> PresignedV2:
    """The SigV2 claims of a presigned URL; :class:`SigV4Malformed` when incomplete."""
    values = {}
    for name in QUERY_NAMES:
        given = query.get(name)
        if not given or len(given) != 1:
            raise SigV4Malformed(f"Presigned URL needs exactly one {name}.")
        values[name] = given[0]
    if not values["Expires"].isdigit():
        raise SigV4Malformed("Expires must be seconds since the epoch.")
    return PresignedV2(values["AWSAccessKeyId"], values["Signature"], int(values["Expires"]))


class _FixedExpiry(HmacV1QueryAuth):  # type: ignore[misc]
    """botocore's SigV2 query signer with the URL's own ``Expires`` as its date."""

    def __init__(self, credentials: Credentials, expires: int) -> None:
        super().__init__(credentials, expires)
        self._expires_at = expires

    def _get_date(self) -> str:
        return str(self._expires_at)


def expected_v2_signature(
    method: str,
    url: str,
    auth_path: str,
    headers: dict[str, str],
    query: dict[str, list[str]],
    claimed: PresignedV2,
    secret_key: str,
) -> str:
    """The signature ``secret_key`` gives this presigned request, computed by botocore.

    ``url`` is the URL as received; ``auth_path`` the path-style resource
    (``/bucket/key`` as sent, also for virtual-hosted requests). Content-MD5, Content-Type
    and ``x-amz-*`` values come from the request's headers or, as boto3 moves them there
    when presigning, from its query.
    """
    signed = HTTPHeaders()
    for name in ("content-md5", "content-type"):
        value = headers.get(name) or next(iter(query.get(name, [])), None)
        if value is not None:
            signed[name] = value
    amz = {name: values[0] for name, values in query.items() if name.lower().startswith("x-amz-")}
    amz.update({name: value for name, value in headers.items() if name.startswith("x-amz-")})
    for name, value in amz.items():
        signed[name.lower()] = value
    signer = _FixedExpiry(Credentials(claimed.access_key, secret_key), claimed.expires)
    signature: str = signer.get_signature(method, urlsplit(url), signed, auth_path=auth_path)
    return signature
