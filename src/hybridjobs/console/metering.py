"""Console requests in the service's access log, request metrics and rate limits.

Contract:

- :class:`Metered` wraps the console's ASGI app: every answered console request is told
  to the service's ``on_answer`` hook (the API's: access line and request metrics) as a
  :class:`~hybridjobs.observability.accesslog.RequestRecord` with service ``console`` and
  operation the name of the route that served it (``jobs_list``, ``job_logs``, ``static``,
  ``login`` ...; ``unknown`` for a path no route matches), so label values stay bounded.
  The record is made when the response head is sent (a live stream counts its time to
  first byte). The account is the signed-in session's, ``-`` before sign-in.
- :class:`ConsoleLimits` holds what limits a browser: the API's per-account rate limiter
  (read at each request, keyed ``(account, "console", route)``) and :class:`SignInGuard`.
- :class:`SignInGuard` limits sign-in attempts per client address and per access key
  (token buckets, always on, whatever the API's rate settings): every attempt takes a
  token from both buckets; an attempt that finds either empty is refused with 429 before
  its secret is checked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hybridjobs.accounts.throttle import RateLimiter
from hybridjobs.console import ASGIApp, Receive, Scope, Send
from hybridjobs.observability.accesslog import RequestRecord

SERVICE = "console"
ACCOUNT_KEY = "hybridjobs.console.account"
"""The scope key the signed-in wrapper records the session's account under."""

AnswerHook = Callable[[RequestRecord], None]

SIGN_IN_BURST_PER_KEY = 5.0
SIGN_IN_RATE_PER_KEY = 1 / 12
"""Five attempts at once per access key, then one every 12 seconds (5 a minute)."""
SIGN_IN_BURST_PER_ADDRESS = 20.0
SIGN_IN_RATE_PER_ADDRESS = 1 / 3
"""Twenty attempts at once per client address, then one every 3 seconds."""


@dataclass
class SignInGuard:
    """Sign-in attempt limits per client address and per access key (module doc)."""

    per_key: RateLimiter = field(
        default_factory=lambda: RateLimiter(SIGN_IN_RATE_PER_KEY, SIGN_IN_BURST_PER_KEY)
    )
    per_address: RateLimiter = field(
        default_factory=lambda: RateLimiter(SIGN_IN_RATE_PER_ADDRESS, SIGN_IN_BURST_PER_ADDRESS)
    )

    def attempt(self, address: str, access_key: str) -> bool:
        """Take one attempt for ``address`` and ``access_key``; False when either has
        none left (the attempt must then be refused unchecked)."""
        address_ok = self.per_address.allow("address", address)
        return self.per_key.allow("key", access_key) and address_ok


def _no_limiter() -> RateLimiter | None:
    return None


@dataclass(frozen=True)
class ConsoleLimits:
    """What limits console requests: the API's rate limiter (``rate_limiter()``, read at
    each request) and the sign-in guard."""

    rate_limiter: Callable[[], RateLimiter | None] = _no_limiter
    sign_in: SignInGuard = field(default_factory=SignInGuard)

    def allow(self, account: str, route: str) -> bool:
        """Whether ``account`` may make one more ``route`` request now."""
        limiter = self.rate_limiter()
        if limiter is None or not limiter.enabled:
            return True
        return limiter.allow(account, SERVICE, route)


def route_name(scope: Scope) -> str:
    """The name of the route that served ``scope`` (``unknown`` when none matched)."""
    route = scope.get("route")
    name = getattr(route, "name", None)
    return name if isinstance(name, str) and name else "unknown"


class Metered:
    """``app`` with each answered request told to ``on_answer()`` (module doc); the hook
    is read at each request, so one installed later is used."""

    def __init__(self, app: ASGIApp, on_answer: Callable[[], AnswerHook | None]) -> None:
        self._app = app
        self._on_answer = on_answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = self._on_answer() if scope["type"] == "http" else None
        if hook is None:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        told = False

        def tell(status: int) -> None:
            nonlocal told
            if told:
                return
            told = True
            hook(_record(scope, status, time.perf_counter() - started))

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                tell(int(message["status"]))
            await send(message)

        try:
            await self._app(scope, receive, sending)
        except Exception:
            tell(500)
            raise


def _record(scope: Scope, status: int, seconds: float) -> RequestRecord:
    return RequestRecord(
        request_id=str(uuid.uuid4()),
        account=str(scope.get(ACCOUNT_KEY) or "-"),
        service=SERVICE,
        operation=route_name(scope),
        method=str(scope.get("method", "GET")),
        status=status,
        latency_ms=round(seconds * 1000, 3),
    )
