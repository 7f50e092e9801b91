"""Fixtures of the console tests: a live service that runs jobs, Debian's Chromium driven
by Playwright, and a place for screenshots.

Screenshots go to a pytest temporary directory (its path is printed), and also to
``HJ_CONSOLE_SCREENSHOTS`` when that is set (``docs/img`` holds the current ones).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from support.jobs import create_job_request, unique_name
from support.server import LiveServer

from hybridjobs.objects import LocalObjectStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUCKET = "hj-console"
EXPECT_MS = 20_000
"""How long a test waits for the page to show what the service did (a job's start,
end, or cancellation takes a few seconds on a busy CI machine)."""

JOBS_ENV = {
    "HYBRIDJOBS_STOP_GRACE_SECONDS": "2",
    "HYBRIDJOBS_WARM_POOL": "false",
    "HYBRIDJOBS_SCHEDULER_POLL_SECONDS": "0.2",
    "HYBRIDJOBS_CAPACITY_VCPUS": "16",
    "HYBRIDJOBS_CAPACITY_MEMORY_GIB": "64",
    "HYBRIDJOBS_TASK_WORKERS": "1",
    "HYBRIDJOBS_TASK_WORKERS_PRESTART": "true",
}


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """The module's server runs jobs (scheduler on, cold-started instances)."""
    return dict(JOBS_ENV)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page, 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Page, str], Path]:
    """``shoot(page, name)`` saves a full-page PNG and returns its path."""
    directory = tmp_path_factory.mktemp("console-screenshots")
    print(f"\nconsole screenshots: {directory}")
    extra = os.environ.get("HJ_CONSOLE_SCREENSHOTS")

    def shoot(page: Page, name: str) -> Path:
        path = directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if extra:
            page.screenshot(path=str(Path(extra) / f"{name}.png"), full_page=True)
        return path

    return shoot


JobStarter = Callable[..., str]


@pytest.fixture(scope="module")
def start_job(server: LiveServer, braket: Any) -> JobStarter:
    """``start_job(script, name=..., **overrides)``: CreateJob running ``script`` (module
    ``script``, entry point ``script:main``); returns the job ARN."""
    objects = LocalObjectStore(server.data_dir / "objects")
    if not objects.bucket_exists(BUCKET):
        objects.create_bucket(BUCKET)

    def start(script: str, name: str | None = None, **overrides: Any) -> str:
        key = f"src/{uuid.uuid4().hex}/script.py"
        objects.put_bytes(BUCKET, key, script.encode())
        params = create_job_request(
            jobName=name or unique_name("console"),
            algorithmSpecification={
                "scriptModeConfig": {
                    "s3Uri": f"s3://{BUCKET}/{key}",
                    "entryPoint": "script:main",
                    "compressionType": None,
                }
            },
            outputDataConfig={"s3Path": f"s3://{BUCKET}/out/{uuid.uuid4().hex}"},
            **overrides,
        )
        arn: str = braket.create_job(**params)["jobArn"]
        return arn

    return start


def job_url(server: LiveServer, arn: str) -> str:
    """The console page of a job."""
    region = arn.split(":")[3]
    return f"{server.url}/console/jobs/{region}/{arn.rsplit('/', 1)[-1]}"
