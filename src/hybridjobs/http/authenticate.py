"""Who may call: the SigV4 policy applied to every request when access keys are configured.

:meth:`Authenticator.admit` checks everything that can be checked from a request's head,
before any of its body is read: the form of the claims, that the credential scope's date is
the signing date, the region, the access key, the clock (``clock_skew`` either way; a
presigned URL from its ``X-Amz-Date`` to ``X-Amz-Expires`` later) and, whenever the
payload hash is declared in the head (S3 always declares it; presigned S3 URLs sign
``UNSIGNED-PAYLOAD``), the signature itself. What can only be checked against the body is
returned in the :class:`Admission`:

* ``declared_sha256``: the hex SHA-256 the body must have (``XAmzContentSHA256Mismatch``);
* ``chunk_signing``: the chain the ``aws-chunked`` body's chunk signatures must follow;
* ``finish``: for the services whose payload hash is not in the head (the JSON and query
  protocols), the signature check over the body's SHA-256. Their bodies are bounded by the
  API body limit, so no large body is read before its sender is authenticated.

The signer's key is looked up in a :class:`KeyLookup` (the service's
:class:`~hybridjobs.accounts.keys.KeyRing`): an operator key, or a job's own ``ASIA…`` key
with its session token (``X-Amz-Security-Token``, header or query), whose job must still
run (else ``ExpiredToken``). The admission carries the signer's account.

Every comparison of a signature or digest is constant-time.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from hybridjobs.accounts.keys import KeyRefused, SigningKey
from hybridjobs.http.head import RequestHead
from hybridjobs.http.refusals import Reason, RequestRefused
from hybridjobs.wire import sigv2, sigv4
from hybridjobs.wire.awschunked import ChunkSigning
from hybridjobs.wire.sigv4 import Signature, SigV4Malformed

Clock = Callable[[], datetime.datetime]
BodyCheck = Callable[[str], None]


class KeyLookup(Protocol):
    """Finds the secret and account of an access key (and its session token)."""

    def signing_key(self, access_key: str, session_token: str | None) -> SigningKey | None:
        """``None`` for an unknown key; raises :class:`KeyRefused` for an ended job's."""
        ...


@dataclass(frozen=True)
class StaticKeys:
    """A fixed ``{access key: secret}`` map, every key of ``account_id``."""

    secrets: Mapping[str, str]
    account_id: str = "000000000000"

    def signing_key(self, access_key: str, session_token: str | None) -> SigningKey | None:
        secret = self.secrets.get(access_key)
        return None if secret is None else SigningKey(secret, self.account_id)


_STREAMING_SIGNED = (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER)
_STAMP = sigv4.TIMESTAMP_FORMAT


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Admission:
    """A request admitted on its head, with what its body must still satisfy.

    ``access_key`` and ``region`` are the signer's (``None`` when the request was not
    signed, or SigV2 has no region); ``account_id`` is the authenticated signer's account
    (``None`` when signatures are not verified). ``finish`` takes the body's hex SHA-256.
    """

    access_key: str | None = None
    region: str | None = None
    account_id: str | None = None
    declared_sha256: str | None = None
    chunk_signing: ChunkSigning | None = None
    signed_trailer: bool = False
    finish: BodyCheck | None = None

    @property
    def hashes_body(self) -> bool:
        """Whether the body's SHA-256 is needed once it is read."""
        return self.declared_sha256 is not None or self.finish is not None

    def check_body(self, body_sha256: str | None) -> None:
        """Raise :class:`RequestRefused` unless the body (of SHA-256 ``body_sha256``,
        computed when :attr:`hashes_body`) is the one that was signed."""
        if not self.hashes_body:
            return
        assert body_sha256 is not None
        if self.declared_sha256 is not None and not hmac.compare_digest(
            self.declared_sha256.encode(), body_sha256.encode()
        ):
            raise RequestRefused(
                Reason.PAYLOAD_HASH,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                {
                    "ClientComputedContentSHA256": self.declared_sha256,
                    "S3ComputedContentSHA256": body_sha256,
                },
            )
        if self.finish is not None:
            self.finish(body_sha256)


@dataclass
class Authenticator:
    """The signature policy over ``keys`` (a :class:`KeyLookup`, or a plain
    ``{access key: secret}`` map); see the module doc."""

    keys: KeyLookup | Mapping[str, str]
    regions: frozenset[str]
    clock_skew: float = 900.0
    clock: Clock = utc_now

    def _signing_key(
        self, access_key: str, session_token: str | None, presigned: bool
    ) -> SigningKey:
        keys = self.keys
        lookup = StaticKeys(keys) if isinstance(keys, Mapping) else keys
        try:
            found = lookup.signing_key(access_key, session_token)
        except KeyRefused as refused:
            raise RequestRefused(Reason.EXPIRED_TOKEN, str(refused), presigned=presigned) from None
        if found is None:
            raise RequestRefused(
                Reason.UNKNOWN_KEY,
                "The AWS Access Key Id you provided does not exist in our records.",
                {"AWSAccessKeyId": access_key},
            )
        return found

    def admit(self, head: RequestHead, service: str) -> Admission:
        """Check ``head`` (of a request for ``service``); raise :class:`RequestRefused`,
        or return what is left to check against the body."""
        if head.headers.get("authorization", "").startswith("AWS "):
            raise RequestRefused(
                Reason.UNSUPPORTED,
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256.",
            )
        presigned = not head.headers.get("authorization")
        try:
            claimed = sigv4.read_signature(head.headers, head.query)
            if claimed is None and service == "s3" and sigv2.is_presigned_v2(head.query):
                return self._admit_v2(head, sigv2.read_presigned_v2(head.query))
        except SigV4Malformed as error:
            raise RequestRefused(Reason.MALFORMED, str(error), presigned=presigned) from None
        if claimed is None:
            raise RequestRefused(
                Reason.MISSING,
                "Missing Authentication Token: this service requires SigV4-signed requests.",
            )
        key = self._check_claims(claimed, _session_token(head, claimed.presigned))
        self._check_time(claimed)
        admission = self._admit_v4(head, service, claimed, key.secret)
        admission.account_id = key.account_id
        return admission

    def _check_claims(self, claimed: Signature, session_token: str | None) -> SigningKey:
        scope = claimed.scope
        presigned = claimed.presigned
        if scope.date != claimed.timestamp[:8]:
            raise RequestRefused(
                Reason.SCOPE_DATE,
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{scope.date}' != '{claimed.timestamp[:8]}', from "
                f"'{claimed.timestamp}'.",
                presigned=presigned,
            )
        if scope.region not in self.regions:
            raise RequestRefused(
                Reason.REGION,
                f"Credential should be scoped to a valid region, not '{scope.region}'.",
                {"Region": scope.region},
                presigned=presigned,
            )
        return self._signing_key(scope.access_key, session_token, presigned)

    def _check_time(self, claimed: Signature) -> None:
        now = self.clock()
        signed_at = claimed.signed_at
        skew = datetime.timedelta(seconds=self.clock_skew)
        minutes = f"{self.clock_skew / 60:g} min."
        if claimed.expires is not None:
            expires_at = signed_at + datetime.timedelta(seconds=claimed.expires)
            if now > expires_at or now < signed_at - skew:
                message = "Request has expired" if now > expires_at else "Request is not yet valid"
                raise RequestRefused(
                    Reason.EXPIRED,
                    message,
                    {
                        "X-Amz-Expires": str(claimed.expires),
                        "Expires": _iso(expires_at),
                        "ServerTime": _iso(now),
                    },
                    presigned=True,
                )
            return
        if now - signed_at > skew:
            message = (
                f"Signature expired: {claimed.timestamp} is now earlier than "
                f"{(now - skew).strftime(_STAMP)} ({now.strftime(_STAMP)} - {minutes})"
            )
        elif signed_at - now > skew:
            message = (
                f"Signature not yet current: {claimed.timestamp} is still later than "
                f"{(now + skew).strftime(_STAMP)} ({now.strftime(_STAMP)} + {minutes})"
            )
        else:
            return
        raise RequestRefused(
            Reason.SKEWED,
            message,
            {
                "RequestTime": claimed.timestamp,
                "ServerTime": _iso(now),
                "MaxAllowedSkewMilliseconds": str(int(self.clock_skew * 1000)),
            },
        )

    def _admit_v4(
        self, head: RequestHead, service: str, claimed: Signature, secret: str
    ) -> Admission:
        scope = claimed.scope
        admission = Admission(access_key=scope.access_key, region=scope.region)
        url = head.url(sigv4.without_signature(head.query_string) if claimed.presigned else None)
        declared = self._declared_payload(head, service, claimed)

        def verify(payload_hash: str) -> None:
            expected = sigv4.expected_signature(
                head.method, url, head.header_list, claimed, payload_hash, secret
            )
            if not sigv4.signatures_match(expected, claimed.signature):
                raise RequestRefused(
                    Reason.SIGNATURE,
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your key and signing method.",
                    {"AWSAccessKeyId": scope.access_key},
                    presigned=claimed.presigned,
                )

        if declared is None:  # the payload hash is the body's: check once it is read
            admission.finish = verify
            return admission
        verify(declared)
        if declared in _STREAMING_SIGNED:
            key = sigv4.signing_key(secret, scope)
            admission.chunk_signing = ChunkSigning(
                key, claimed.timestamp, scope.text, claimed.signature
            )
            admission.signed_trailer = declared == sigv4.STREAMING_SIGNED_TRAILER
        elif declared not in (sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_UNSIGNED_TRAILER):
            admission.declared_sha256 = declared
        return admission

    @staticmethod
    def _declared_payload(head: RequestHead, service: str, claimed: Signature) -> str | None:
        """The payload hash line of the canonical request when the head declares it
        (checked for form), or ``None`` when it is the body's own SHA-256."""
        declared = head.headers.get("x-amz-content-sha256")
        if service != "s3":
            if declared is not None and not _is_sha256(declared):
                raise RequestRefused(
                    Reason.UNSUPPORTED,
                    f"x-amz-content-sha256 {declared!r}: this service needs the payload's SHA-256.",
                )
            return declared
        if claimed.presigned:  # presigned S3 URLs sign no payload unless the URL says so
            return (head.query.get("X-Amz-Content-Sha256") or [sigv4.UNSIGNED_PAYLOAD])[0]
        if declared is None:
            raise RequestRefused(
                Reason.MISSING_PAYLOAD_HASH,
                "Missing required header for this request: x-amz-content-sha256",
            )
        allowed = (sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_UNSIGNED_TRAILER, *_STREAMING_SIGNED)
        if declared not in allowed and not _is_sha256(declared):
            raise RequestRefused(
                Reason.UNSUPPORTED,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
            )
        return declared

    def _admit_v2(self, head: RequestHead, claimed: sigv2.PresignedV2) -> Admission:
        from hybridjobs.services.s3 import bucket_from_host

        key = self._signing_key(claimed.access_key, _session_token(head, True), True)
        secret = key.secret
        now = self.clock()
        seconds_left = claimed.expires - now.timestamp()
        if seconds_left < 0:
            raise RequestRefused(
                Reason.EXPIRED,
                "Request has expired",
                {"Expires": _iso(_from_epoch(claimed.expires)), "ServerTime": _iso(now)},
                presigned=True,
            )
        if seconds_left > sigv4.MAX_PRESIGN_SECONDS:
            raise RequestRefused(
                Reason.MALFORMED,
                f"Expires must be at most {sigv4.MAX_PRESIGN_SECONDS} seconds from now.",
                presigned=True,
            )
        bucket = bucket_from_host(head.host)
        auth_path = f"/{bucket}{head.raw_path}" if bucket is not None else head.raw_path
        expected = sigv2.expected_v2_signature(
            head.method, head.url(), auth_path, head.headers, head.query, claimed, secret
        )
        if not hmac.compare_digest(expected.encode(), claimed.signature.encode()):
            raise RequestRefused(
                Reason.SIGNATURE,
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                {"AWSAccessKeyId": claimed.access_key},
                presigned=True,
            )
        return Admission(access_key=claimed.access_key, account_id=key.account_id)


def _session_token(head: RequestHead, presigned: bool) -> str | None:
    """The STS session token that comes with the signature (header, or presigned query)."""
    if presigned:
        for name in ("X-Amz-Security-Token", "x-amz-security-token"):
            values = head.query.get(name)
            if values:
                return values[0]
        return None
    return head.headers.get("x-amz-security-token")


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_epoch(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
