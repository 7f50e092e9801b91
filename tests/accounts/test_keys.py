"""The key ring: both credentials forms, job credentials, login, rates and quotas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridjobs.accounts.jobkeys import JobKeys
from hybridjobs.accounts.keys import (
    CredentialsError,
    KeyRefused,
    KeyRing,
    load_credentials,
    parse_credentials,
)
from hybridjobs.accounts.quotas import QuotaLimits, Quotas
from hybridjobs.accounts.throttle import RateLimiter
from hybridjobs.errors import ServiceQuotaExceededException

DEFAULT = "000000000000"
A = "111111111111"
B = "222222222222"
JOB = f"arn:aws:braket:us-west-2:{A}:job/0123"


def test_both_credential_forms_map_keys_to_accounts(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    file.write_text(json.dumps({"AKIDB": {"secret": "sb", "account": B}}))
    keys = load_credentials(
        {"AKIDOLD": "so", "AKIDA": {"secret": "sa", "account": A}}, file, DEFAULT
    )
    assert {k: (v.secret, v.account_id) for k, v in keys.items()} == {
        "AKIDOLD": ("so", DEFAULT),
        "AKIDA": ("sa", A),
        "AKIDB": ("sb", B),
    }


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"AKID": {"secret": "s", "account": "12"}}, "account must be 12 digits"),
        ({"AKID": {"secret": ""}}, "secret must be a non-empty string"),
        ({"AKID": {"secret": "s", "acount": A}}, "unknown members"),
        ({"ASIAFAKE": "s"}, "reserved for job credentials"),
        ({"AKID": 5}, "expected a secret"),
    ],
)
def test_bad_credentials_name_the_key(document: dict[str, object], named: str) -> None:
    with pytest.raises(CredentialsError, match=named):
        parse_credentials(document, DEFAULT)


def test_a_credentials_file_others_may_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "keys.json"
    file.write_text(json.dumps({"AKID": "s"}))
    file.chmod(0o600)
    load_credentials({}, file, DEFAULT)
    assert "readable by other users" not in caplog.text
    file.chmod(0o644)
    assert load_credentials({}, file, DEFAULT)["AKID"].account_id == DEFAULT
    assert "readable by other users" in caplog.text


def test_a_credentials_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    file.write_text("{not json")
    with pytest.raises(CredentialsError, match=r"keys\.json"):
        load_credentials({}, file, DEFAULT)


def test_job_credentials_look_like_sts_ones_and_verify_only_together() -> None:
    keys = JobKeys(b"k" * 32)
    issued = keys.issue(JOB, A, 2_000_000_000)
    assert issued.access_key_id.startswith("ASIA") and len(issued.access_key_id) == 20
    assert len(issued.secret_access_key) == 40
    claim = keys.verify(issued.access_key_id, issued.session_token)
    assert claim is not None
    assert (claim.job_arn, claim.account_id, claim.secret_access_key) == (
        JOB,
        A,
        issued.secret_access_key,
    )
    other = keys.issue(JOB.replace("0123", "0124"), A, 2_000_000_000)
    assert other.access_key_id != issued.access_key_id
    assert keys.verify(other.access_key_id, issued.session_token) is None
    tampered = issued.session_token.replace(".", ".x", 1)
    assert keys.verify(issued.access_key_id, tampered) is None
    assert JobKeys(b"j" * 32).verify(issued.access_key_id, issued.session_token) is None


def test_the_key_ring_serves_operator_keys_and_live_jobs_keys() -> None:
    live = {JOB: True}
    ring = KeyRing(
        DEFAULT,
        parse_credentials({"AKIDA": {"secret": "sa", "account": A}}, DEFAULT),
        JobKeys(b"k" * 32),
        job_is_live=lambda arn: live.get(arn, False),
    )
    assert ring.verifying and ring.accounts() == [A]
    operator = ring.signing_key("AKIDA", None)
    assert operator is not None and (operator.secret, operator.account_id) == ("sa", A)
    assert ring.signing_key("AKIDX", None) is None
    assert ring.job_keys is not None
    issued = ring.job_keys.issue(JOB, A, 4_000_000_000)
    job_key = ring.signing_key(issued.access_key_id, issued.session_token)
    assert job_key is not None and (job_key.account_id, job_key.job_arn) == (A, JOB)
    assert ring.signing_key(issued.access_key_id, None) is None
    live[JOB] = False
    with pytest.raises(KeyRefused):
        ring.signing_key(issued.access_key_id, issued.session_token)
    expired = ring.job_keys.issue(JOB, A, 1)
    live[JOB] = True
    with pytest.raises(KeyRefused):
        ring.signing_key(expired.access_key_id, expired.session_token)


def test_login_takes_only_an_operator_key_with_its_secret() -> None:
    ring = KeyRing(DEFAULT, parse_credentials({"AKIDA": {"secret": "sa", "account": A}}, DEFAULT))
    assert ring.login("AKIDA", "sa") == A
    assert ring.login("AKIDA", "sb") is None
    assert ring.login("AKIDX", "sa") is None
    assert KeyRing(DEFAULT).login("anything", "at all") == DEFAULT


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_refill_at_the_rate_per_account_and_operation() -> None:
    clock = _Clock()
    limiter = RateLimiter(rate=2.0, burst=3.0, clock=clock)
    assert [limiter.allow(A, "braket", "GetJob") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow(B, "braket", "GetJob")
    assert limiter.allow(A, "braket", "SearchJobs")
    clock.now = 0.5  # one token back
    assert limiter.allow(A, "braket", "GetJob")
    assert not limiter.allow(A, "braket", "GetJob")
    assert RateLimiter(rate=0.0, burst=1.0).allow(A, "x")


class _Load:
    def __init__(self, jobs: int, instances: int, tasks: int) -> None:
        self.jobs, self.instances, self.tasks = jobs, instances, tasks

    def account_job_load(self, account_id: str) -> tuple[int, int]:
        return self.jobs, self.instances

    def account_queued_tasks(self, account_id: str) -> int:
        return self.tasks


def test_quotas_refuse_past_each_limit() -> None:
    quotas = Quotas(QuotaLimits(2, 4, 1), _Load(jobs=1, instances=3, tasks=1))
    quotas.check_job(A, 1)
    with pytest.raises(ServiceQuotaExceededException, match="4 concurrent instances"):
        quotas.check_job(A, 2)
    with pytest.raises(ServiceQuotaExceededException, match="1 queued quantum tasks"):
        quotas.check_task(A)
    with pytest.raises(ServiceQuotaExceededException, match="2 concurrent jobs"):
        Quotas(QuotaLimits(2, 0, 0), _Load(2, 2, 0)).check_job(A, 1)
    Quotas(QuotaLimits(), _Load(99, 99, 99)).check_task(A)
