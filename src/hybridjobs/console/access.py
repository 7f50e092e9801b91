"""Who is looking at the console: sign-in with an access key and its secret, a signed
session cookie, and the CSRF token every state-changing form carries.

Contract:

- Without access keys configured (the loopback-only default) every browser gets a session
  for the default account on its first page, without a form.
- With keys configured, ``/console/login`` takes a key and its secret once (compared in
  constant time); the session then names the key's account, and only that account's
  resources are shown.
- The session cookie is signed (itsdangerous, over a key derived from the configured
  secrets, or from a key file in the data directory without keys), HttpOnly,
  ``SameSite=Strict``, scoped to ``/console`` and valid for ``SESSION_SECONDS``.
- A POST is accepted only with the session's CSRF token in its form and, when the browser
  sends ``Origin``, an origin equal to the request's own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "hybridjobs_console"
SESSION_SECONDS = 12 * 3600
KEY_FILE = "console-session.key"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its access key (None without keys), account and CSRF token."""

    access_key: str | None
    account_id: str
    csrf: str


class Keys(Protocol):
    """The service's operator keys as sign-in needs them."""

    def verifying(self) -> bool:
        """Whether keys are configured."""
        ...

    def login(self, access_key: str, secret: str) -> str | None:
        """The key's account when ``secret`` is its secret (constant time), else None."""
        ...

    def known(self, access_key: str) -> bool:
        """Whether ``access_key`` is a configured operator key now."""
        ...

    def material(self) -> str:
        """Secret material every API process shares ("" without keys)."""
        ...


def session_key(keys: Keys, data_dir: Path) -> bytes:
    """The key sessions are signed with: derived from the configured secrets (so every
    API process of one deployment agrees, and changing the keys ends old sessions), else
    read from (or created in) ``data_dir/console-session.key``."""
    material = keys.material()
    if material:
        return hmac.new(b"hybridjobs-console", material.encode(), hashlib.sha256).digest()
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()  # another process made it first
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class ConsoleAccess:
    """Sign-in and sessions over the service's keys (:class:`Keys`, read at each
    request, so keys the service learns later are honoured)."""

    def __init__(self, signing_key: bytes, default_account: str, keys: Keys) -> None:
        self._serializer = URLSafeTimedSerializer(signing_key, salt="hybridjobs-console")
        self.default_account = default_account
        self.keys = keys

    def verifying(self) -> bool:
        return self.keys.verifying()

    def sign_in(self, access_key: str, secret: str) -> Session | None:
        """A new session for the key when ``secret`` is its secret; else None."""
        if not access_key:
            return None
        account = self.keys.login(access_key, secret)
        if account is None:
            return None
        return Session(access_key, account, secrets.token_urlsafe(24))

    def anonymous(self) -> Session:
        """The session of a browser when no keys are configured."""
        return Session(None, self.default_account, secrets.token_urlsafe(24))

    def session_of(self, request: Request) -> Session | None:
        """The valid session the request's cookie carries, or None. A session for a key
        that is no longer configured (or made before keys were) is not valid."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._serializer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        key = data.get("k")
        if self.verifying():
            if not isinstance(key, str) or not self.keys.known(key):
                return None
        elif key is not None:
            return None
        return Session(key, str(data["a"]), str(data["c"]))

    def set_cookie(self, response: Response, session: Session, secure: bool) -> None:
        value = self._serializer.dumps(
            {"k": session.access_key, "a": session.account_id, "c": session.csrf}
        )
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_SECONDS,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=secure,
        )

    @staticmethod
    def clear_cookie(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/console")


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin (``Origin``, or
    ``Referer`` without it); True when it matches or says nothing."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        origin = "/".join(referer.split("/")[:3])
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return origin.rstrip("/") == own


def csrf_ok(request: Request, session: Session, form: Mapping[str, str]) -> bool:
    """Whether a POST carries the session's CSRF token and comes from our own origin."""
    token = form.get("csrf", "")
    return same_origin(request) and hmac.compare_digest(token.encode(), session.csrf.encode())
