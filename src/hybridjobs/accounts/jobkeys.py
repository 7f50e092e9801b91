"""Each job's own short-lived credentials, as STS would issue them.

A job's instances sign their calls (S3, Logs, Braket) with an access key ``ASIA…`` (20
characters), a 40-character secret and a session token, never with an operator's key. The
three are derived from one service secret (kept in the database, so they survive a server
restart and are the same for every API process) and a claim: the job's ARN, its account
and an expiry. Nothing per job is stored:

* the session token is ``hj1.<claim>.<mac>``: the claim (URL-safe base64 of compact JSON)
  and an HMAC-SHA256 of it under the service secret;
* the access key and the secret are HMACs of the claim under the service secret (with
  different labels), so a request's key and token are checked together and the secret
  to verify its signature with is recomputed.

Whether the job still runs is the caller's check (:class:`~hybridjobs.accounts.keys.KeyRing`):
the keys are refused once the job is in a terminal status or the expiry has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

TOKEN_PREFIX = "hj1"
ACCESS_KEY_PREFIX = "ASIA"
EXPIRY_GRACE_SECONDS = 3600
"""How long past its maximum runtime a job's keys stay valid (stopping, uploading)."""


@dataclass(frozen=True)
class JobCredentials:
    """What one job's instances sign with (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``), valid until ``expiration`` (epoch seconds)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: int


@dataclass(frozen=True)
class JobClaim:
    """A genuine session token's claim, with the secret its key signs with."""

    job_arn: str
    account_id: str
    expiration: int
    secret_access_key: str

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) > self.expiration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JobKeys:
    """Issues and verifies job credentials under one service secret (at least 32 bytes)."""

    def __init__(self, service_secret: bytes) -> None:
        if len(service_secret) < 32:
            raise ValueError("the job-credentials secret must be at least 32 bytes")
        self._secret = service_secret

    def _mac(self, label: bytes, claim: str) -> bytes:
        return hmac.new(
            self._secret, label + b"\0" + claim.encode("ascii"), hashlib.sha256
        ).digest()

    def _access_key(self, claim: str) -> str:
        digest = base64.b32encode(self._mac(b"access-key", claim)).decode("ascii")
        return ACCESS_KEY_PREFIX + digest[:16]

    def _secret_key(self, claim: str) -> str:
        return base64.b64encode(self._mac(b"secret", claim)[:30]).decode("ascii")

    def issue(self, job_arn: str, account_id: str, expiration: int) -> JobCredentials:
        """The credentials of ``job_arn`` (of ``account_id``) valid until ``expiration``;
        the same arguments always give the same credentials."""
        payload = {"j": job_arn, "a": account_id, "e": int(expiration)}
        claim = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        token = f"{TOKEN_PREFIX}.{claim}.{_b64(self._mac(b'token', claim))}"
        return JobCredentials(
            self._access_key(claim), self._secret_key(claim), token, int(expiration)
        )

    def verify(self, access_key: str, session_token: str) -> JobClaim | None:
        """The claim of ``session_token`` when it was issued here together with
        ``access_key`` (constant-time checks), else ``None``. Expiry is not checked."""
        prefix, _, rest = session_token.partition(".")
        claim, _, mac = rest.partition(".")
        if prefix != TOKEN_PREFIX or not claim or not mac:
            return None
        try:
            given = _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(b"token", claim)):
            return None
        if not hmac.compare_digest(access_key.encode(), self._access_key(claim).encode()):
            return None
        try:
            payload = json.loads(_unb64(claim))
            return JobClaim(
                str(payload["j"]), str(payload["a"]), int(payload["e"]), self._secret_key(claim)
            )
        except (ValueError, KeyError, TypeError):
            return None
