"""Access keys and the accounts they belong to.

Operators configure keys as JSON, in ``HYBRIDJOBS_CREDENTIALS`` or a file given with
``--credentials-file`` (``HYBRIDJOBS_CREDENTIALS_FILE``), in either form::

    {"AKID1": {"secret": "…", "account": "111111111111"}, "AKID2": {"secret": "…", "account": "222222222222"}}
    {"AKID": "secret"}          # the old form: the key belongs to the default account

A :class:`KeyRing` answers, for a signed request, which secret the signature must be
computed with and which account the signer belongs to: an operator key from the
configuration, or a job's own short-lived key (``ASIA…`` with a session token, see
:mod:`hybridjobs.accounts.jobkeys`), which is only good while its job runs.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridjobs.accounts.jobkeys import JobKeys

ACCOUNT_PATTERN = re.compile(r"^[0-9]{12}$")
log = logging.getLogger(__name__)


class CredentialsError(ValueError):
    """The configured credentials are not of either documented form."""


@dataclass(frozen=True)
class AccountKey:
    """One operator access key: its secret and the account it acts in."""

    access_key: str
    secret: str
    account_id: str


@dataclass(frozen=True)
class SigningKey:
    """What verifies a request signed with some access key: the secret, the account the
    signer acts in, and the job ARN when the key is a job's own."""

    secret: str
    account_id: str
    job_arn: str | None = None


class KeyRefused(Exception):
    """A job key whose job has ended (or whose token is past its expiry)."""


def parse_credentials(document: Mapping[str, Any], default_account: str) -> dict[str, AccountKey]:
    """The keys of a credentials document (either form, see the module doc).

    Raises :class:`CredentialsError` naming the key at fault: a secret that is not a
    non-empty string, an account that is not 12 digits, an access key starting with
    ``ASIA`` (reserved for job credentials) or unknown members."""
    keys: dict[str, AccountKey] = {}
    for access_key, entry in document.items():
        if not access_key or access_key.startswith("ASIA"):
            raise CredentialsError(
                f"credentials: access key {access_key!r}: empty, or starts with ASIA "
                "(reserved for job credentials)"
            )
        secret: object
        account: object
        if isinstance(entry, str):
            secret, account = entry, default_account
        elif isinstance(entry, Mapping):
            unknown = set(entry) - {"secret", "account"}
            if unknown:
                raise CredentialsError(
                    f"credentials: {access_key}: unknown members {sorted(unknown)}"
                )
            secret = entry.get("secret")
            account = entry.get("account", default_account)
        else:
            raise CredentialsError(
                f'credentials: {access_key}: expected a secret or {{"secret": ..., "account": ...}}'
            )
        if not isinstance(secret, str) or not secret:
            raise CredentialsError(f"credentials: {access_key}: secret must be a non-empty string")
        if not isinstance(account, str) or not ACCOUNT_PATTERN.match(account):
            raise CredentialsError(
                f"credentials: {access_key}: account must be 12 digits, got {account!r}"
            )
        keys[access_key] = AccountKey(access_key, secret, account)
    return keys


def read_credentials_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`CredentialsError` when it is not one. A file
    others than its owner may read is used, with a warning."""
    try:
        if path.stat().st_mode & 0o077:
            log.warning("credentials file %s is readable by other users; chmod 600 it", path)
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CredentialsError(f"credentials file {path}: {error}") from None
    if not isinstance(document, dict):
        raise CredentialsError(f"credentials file {path}: expected a JSON object")
    return document


def load_credentials(
    inline: Mapping[str, Any], file: Path | None, default_account: str
) -> dict[str, AccountKey]:
    """The operator keys of ``inline`` (``HYBRIDJOBS_CREDENTIALS``) and ``file``
    (``--credentials-file``; its entries win)."""
    document: dict[str, Any] = dict(inline)
    if file is not None:
        document.update(read_credentials_file(file))
    return parse_credentials(document, default_account)


JobIsLive = Callable[[str], bool]
"""Whether the job of an ARN is still running (not in a terminal status)."""


def _always_live(job_arn: str) -> bool:
    return True


@dataclass
class KeyRing:
    """Who may call, and as which account.

    With no operator keys configured (:attr:`verifying` false) signatures are not checked
    and every caller acts in ``default_account`` (the loopback single-user setup). With
    keys, each request's signer is looked up with :meth:`signing_key`.
    """

    default_account: str
    keys: dict[str, AccountKey] = field(default_factory=dict)
    job_keys: JobKeys | None = None
    job_is_live: JobIsLive = _always_live

    @property
    def verifying(self) -> bool:
        return bool(self.keys)

    def accounts(self) -> list[str]:
        """The accounts that have operator keys (just the default one without keys)."""
        if not self.keys:
            return [self.default_account]
        return sorted({key.account_id for key in self.keys.values()})

    def signing_key(self, access_key: str, session_token: str | None) -> SigningKey | None:
        """The secret and account of ``access_key``: an operator key (a session token is
        then ignored, as AWS ignores it for long-term keys… but never needed), or a job key
        whose ``session_token`` is genuine. ``None`` for a key nobody issued; raises
        :class:`KeyRefused` for a job key whose job has ended or whose token expired."""
        operator = self.keys.get(access_key)
        if operator is not None:
            return SigningKey(operator.secret, operator.account_id)
        if self.job_keys is None or not access_key.startswith("ASIA") or not session_token:
            return None
        claim = self.job_keys.verify(access_key, session_token)
        if claim is None:
            return None
        if claim.expired() or not self.job_is_live(claim.job_arn):
            raise KeyRefused(
                f"The security token included in the request is expired: {claim.job_arn} has ended"
            )
        return SigningKey(claim.secret_access_key, claim.account_id, claim.job_arn)

    def login(self, access_key: str, secret: str) -> str | None:
        """The account of the operator key ``access_key`` when ``secret`` is its secret
        (constant-time comparison), else ``None``. Job keys never log in. Without keys
        configured, anyone is the default account."""
        if not self.keys:
            return self.default_account
        key = self.keys.get(access_key)
        if key is None:
            hmac.compare_digest(secret.encode(), b"\0" * len(secret.encode()))
            return None
        if hmac.compare_digest(key.secret.encode(), secret.encode()):
            return key.account_id
        return None
