"""Signing in to the console of a service with access keys: a wrong secret is refused, the
session cookie is HttpOnly and SameSite, and each account sees only its own jobs."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from playwright.sync_api import Browser, Page, expect
from prometheus_client.parser import text_string_to_metric_families
from support.jobs import create_job_request, unique_name
from support.server import API_TEST_SERVER_ENV, NO_RETRIES, LiveServer

from console.conftest import job_url

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
KEY_A, SECRET_A = "AKIDCONSOLEA", "secret-of-console-a"
KEY_B, SECRET_B = "AKIDCONSOLEB", "secret-of-console-b"
KEYS = json.dumps(
    {
        KEY_A: {"secret": SECRET_A, "account": ACCOUNT_A},
        KEY_B: {"secret": SECRET_B, "account": ACCOUNT_B},
    }
)


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Keys of two accounts; nothing runs (jobs stay QUEUED); /metrics unsigned; a
    per-account rate of 30 requests at once per operation, then one every 2 seconds."""
    return {
        **API_TEST_SERVER_ENV,
        "HYBRIDJOBS_CREDENTIALS": KEYS,
        "HYBRIDJOBS_METRICS_UNSIGNED": "true",
        "HYBRIDJOBS_REQUEST_RATE_PER_SECOND": "0.5",
        "HYBRIDJOBS_REQUEST_BURST": "30",
    }


def braket_of(server: LiveServer, key: str, secret: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-west-2"
    )
    return session.client("braket", endpoint_url=server.url, config=NO_RETRIES)


def sign_in(page: Page, server: LiveServer, key: str, secret: str) -> None:
    page.goto(f"{server.url}/console/jobs")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_wrong_secret_is_refused_and_accounts_see_only_their_jobs(
    server: LiveServer,
    browser: Browser,
    page: Page,
    screenshots: Callable[[Page, str], Path],
) -> None:
    arn_a = braket_of(server, KEY_A, SECRET_A).create_job(
        **create_job_request(jobName=unique_name("mine"))
    )["jobArn"]
    arn_b = braket_of(server, KEY_B, SECRET_B).create_job(
        **create_job_request(jobName=unique_name("theirs"))
    )["jobArn"]

    sign_in(page, server, KEY_A, SECRET_B)
    expect(page.locator("#login-problem")).to_contain_text("do not match")
    screenshots(page, "sign-in-refused")
    sign_in(page, server, KEY_A, SECRET_A)

    expect(page).to_have_url(f"{server.url}/console/jobs")
    expect(page.locator(f'tr[data-arn="{arn_a}"]')).to_have_count(1)
    expect(page.locator(f'tr[data-arn="{arn_b}"]')).to_have_count(0)
    expect(page.locator(".who")).to_contain_text(ACCOUNT_A)

    cookie = next(c for c in page.context.cookies() if c["name"] == "hybridjobs_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    response = page.goto(job_url(server, arn_b))
    assert response is not None and response.status == 404
    state = page.request.get(job_url(server, arn_b) + "/state")
    assert state.status == 404

    other = browser.new_context()
    try:
        anonymous = other.new_page()
        assert anonymous.request.get(job_url(server, arn_a) + "/state").status == 401
        refused = anonymous.request.post(
            f"{server.url}/console/login",
            form={"access_key": KEY_A, "secret": SECRET_A},
            headers={"Origin": "https://evil.example"},
        )
        assert refused.status == 403
    finally:
        other.close()


def console_requests(server: LiveServer) -> dict[tuple[str, str], float]:
    """``hybridjobs_requests_total`` of the console, by (operation, status)."""
    text = page_text(f"{server.url}/metrics")
    return {
        (sample.labels["operation"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hybridjobs_requests_total" and sample.labels["service"] == "console"
    }


def page_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_sign_in_attempts_are_limited_and_logged_and_counted(
    server: LiveServer, page: Page, screenshots: Callable[[Page, str], Path]
) -> None:
    for _ in range(5):
        sign_in(page, server, "AKIDGUESSED", "wrong")
        expect(page.locator("#login-problem")).to_contain_text("do not match")
    sign_in(page, server, "AKIDGUESSED", "wrong")
    expect(page.locator("#login-problem")).to_contain_text("Too many sign-in attempts")
    screenshots(page, "sign-in-throttled")
    refused = page.request.post(
        f"{server.url}/console/login", form={"access_key": "AKIDGUESSED", "secret": "x"}
    )
    assert refused.status == 429 and refused.headers["retry-after"] == "60"

    sign_in(page, server, KEY_B, SECRET_B)  # another key from the same address still may
    expect(page).to_have_url(f"{server.url}/console/jobs")

    counted = console_requests(server)
    assert counted[("login", "403")] >= 5 and counted[("login", "429")] >= 2
    assert counted[("jobs_list", "200")] >= 1 and counted[("login_form", "200")] >= 1
    log = server.log_text()
    assert " POST console.login 429 " in log
    assert "GET console.jobs_list 200" in log and f"account={ACCOUNT_B}" in log


def test_console_requests_share_the_api_rate_limit(server: LiveServer, page: Page) -> None:
    sign_in(page, server, KEY_B, SECRET_B)
    expect(page).to_have_url(f"{server.url}/console/jobs")
    statuses = [page.request.get(f"{server.url}/console/devices").status for _ in range(35)]
    assert statuses[0] == 200 and statuses[-1] == 429
    throttled = page.request.get(f"{server.url}/console/devices")
    assert throttled.status == 429 and "Rate exceeded" in throttled.text()
    assert console_requests(server)[("devices_page", "429")] >= 2


def test_list_sorts_by_name_on_the_server_across_pages(server: LiveServer, page: Page) -> None:
    braket = braket_of(server, KEY_A, SECRET_A)
    prefix = unique_name("pager")
    names = [f"{prefix}-{n:02d}" for n in (7, 25, 0, 13, 3, 21, 9, 16, 1, 24, 11, 5, 19)]
    names += [f"{prefix}-{n:02d}" for n in (2, 14, 23, 6, 10, 18, 4, 12, 20, 8, 15, 17, 22)]
    for name in names:
        braket.create_job(**create_job_request(jobName=name))
    sign_in(page, server, KEY_A, SECRET_A)
    page.goto(f"{server.url}/console/jobs?name={prefix}")
    page.locator("#sort-name").click()
    expect(page.locator("th", has=page.locator("#sort-name"))).to_have_attribute(
        "aria-sort", "ascending"
    )
    rows = page.locator("tr[data-arn]")
    expect(rows).to_have_count(25)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.name)") == sorted(names)[:25]
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-name", sorted(names)[25])
    page.locator("#sort-name").click()  # descending, from the first page
    expect(rows).to_have_count(25)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.name)") == sorted(names)[::-1][:25]
    assert page.request.get(f"{server.url}/console/jobs?sort=billable").status == 400
