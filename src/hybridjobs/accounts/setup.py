"""The accounts part of a service, built from Settings and the store at start-up."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hybridjobs.accounts.jobkeys import JobKeys
from hybridjobs.accounts.keys import KeyRing, load_credentials
from hybridjobs.accounts.quotas import AccountLoad, QuotaLimits, Quotas
from hybridjobs.accounts.throttle import RateLimiter
from hybridjobs.settings import Settings

JOB_CREDENTIALS_SECRET = "job-credentials"
"""The name of the service secret job credentials are derived from."""


@runtime_checkable
class SecretStore(Protocol):
    def service_secret(self, name: str) -> bytes:
        """The service's secret ``name``, made once and kept."""
        ...


class AccountsStore(SecretStore, AccountLoad, Protocol):
    """What the accounts part needs of the store."""

    def job_is_live(self, job_arn: str) -> bool:
        """Whether the job exists and is not in a terminal status."""
        ...


def job_keys(store: SecretStore) -> JobKeys:
    """The issuer and verifier of job credentials over the store's shared secret."""
    return JobKeys(store.service_secret(JOB_CREDENTIALS_SECRET))


def key_ring(settings: Settings, store: AccountsStore) -> KeyRing:
    """The operator keys of the settings (inline and file) and the job keys of the store;
    a job key is good while its job is not in a terminal status."""
    return KeyRing(
        default_account=settings.account_id,
        keys=load_credentials(settings.credentials, settings.credentials_file, settings.account_id),
        job_keys=job_keys(store),
        job_is_live=store.job_is_live,
    )


def quotas(settings: Settings, store: AccountLoad) -> Quotas:
    """The per-account quotas of the settings over the store's counts."""
    limits = QuotaLimits(
        max_concurrent_jobs=settings.max_concurrent_jobs_per_account,
        max_concurrent_instances=settings.max_concurrent_instances_per_account,
        max_queued_tasks=settings.max_queued_tasks_per_account,
    )
    return Quotas(limits, store)


def rate_limiter(settings: Settings) -> RateLimiter:
    """Per-account, per-operation request rates (off when the rate is 0)."""
    return RateLimiter(settings.request_rate_per_second, settings.request_burst)
