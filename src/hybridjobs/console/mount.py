"""The console as the service mounts it: the API's own domain services and key ring,
built into the Starlette app on the first request (:class:`~hybridjobs.console.LazyConsole`)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridjobs.accounts.throttle import RateLimiter
from hybridjobs.console import ASGIApp, LazyConsole
from hybridjobs.console.metering import AnswerHook, ConsoleLimits, Metered
from hybridjobs.devices.service import DeviceService
from hybridjobs.jobs.service import JobService
from hybridjobs.objects import ObjectStore
from hybridjobs.store.base import JobStore
from hybridjobs.tasks.service import TaskService


class ServiceKeys:
    """The API's key ring (``HybridJobsApp.accounts``) as the console's sign-in reads it:
    a :class:`~hybridjobs.accounts.keys.KeyRing` (``login``, ``keys``), or the plain
    key → secret and key → account maps of :class:`~hybridjobs.api.Accounts`."""

    def __init__(self, accounts: Callable[[], Any]) -> None:
        self._accounts = accounts

    @property
    def accounts(self) -> Any:
        return self._accounts()

    def _secrets(self) -> dict[str, str]:
        keys = getattr(self.accounts, "keys", None)
        if isinstance(keys, dict):
            return {name: str(key.secret) for name, key in keys.items()}
        return dict(getattr(self.accounts, "secrets", {}))

    def verifying(self) -> bool:
        return bool(self.accounts.verifying)

    def login(self, access_key: str, secret: str) -> str | None:
        if not self.verifying():
            return None
        login = getattr(self.accounts, "login", None)
        if login is not None:
            account = login(access_key, secret)
            return str(account) if account is not None else None
        expected = self._secrets().get(access_key)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            return None
        return str(self.accounts.key_accounts.get(access_key, self.accounts.default_account))

    def known(self, access_key: str) -> bool:
        return access_key in self._secrets()

    def material(self) -> str:
        return "\n".join(f"{k}={v}" for k, v in sorted(self._secrets().items()))


def console_for(
    *,
    jobs: JobService,
    tasks: TaskService,
    devices: DeviceService,
    store: JobStore,
    objects: ObjectStore,
    accounts: Callable[[], Any],
    default_region: str,
    data_dir: Path,
    on_answer: Callable[[], AnswerHook | None] | None = None,
    rate_limiter: Callable[[], RateLimiter | None] | None = None,
) -> LazyConsole:
    """The console over the API's services; ``accounts`` reads ``HybridJobsApp.accounts``
    (at each sign-in, so a key ring swapped in later is the one used). ``on_answer``
    and ``rate_limiter`` read the API's access-log/metrics hook and its per-account rate
    limiter (``HybridJobsApp.on_answer``, ``.rate_limiter``) at each request."""

    def build() -> ASGIApp:
        from hybridjobs.console.access import ConsoleAccess, session_key
        from hybridjobs.console.app import build_app
        from hybridjobs.console.web import ConsoleDeps

        keys = ServiceKeys(accounts)
        access = ConsoleAccess(session_key(keys, data_dir), keys.accounts.default_account, keys)
        limits = ConsoleLimits(rate_limiter) if rate_limiter is not None else ConsoleLimits()
        deps = ConsoleDeps(jobs, tasks, devices, store, objects, access, default_region, limits)
        app = build_app(deps)
        return Metered(app, on_answer) if on_answer is not None else app

    return LazyConsole(build)
