"""The console against a live service running real jobs, in Debian's Chromium: the list
follows a job's status, a running job's log lines and metric charts appear, cancel and
"start a copy" work, results are shown, and an unreachable service is said so."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from support.server import LiveServer

from console.conftest import BUCKET, EXPECT_MS, JobStarter, job_url

# Runs until cancelled: a line and a metric point every 0.2 s on every instance.
TICKING = """
import os, time
from braket.jobs.metrics import log_metric

def main():
    host = os.environ.get("CURRENT_HOST", "?")
    for i in range(100000):
        print(f"tick {i} from {host}", flush=True)
        log_metric(metric_name="loss", value=1.0 / (i + 1), iteration_number=i)
        time.sleep(0.2)
"""

SAVES_RESULTS = """
from braket.jobs import save_job_result
from braket.jobs.metrics import log_metric

def main():
    print("computing the answer", flush=True)
    log_metric(metric_name="energy", value=-1.25, iteration_number=0)
    save_job_result({"energy": -1.25, "angles": [0.5, 1.5]})
"""


SAVES_RESULTS_AND_CHECKPOINT = (
    SAVES_RESULTS
    + """
    from braket.jobs import save_job_checkpoint
    save_job_checkpoint({"step": 7}, checkpoint_file_suffix="step7")
"""
)


def row_status(page: Page, arn: str) -> Any:
    return page.locator(f'tr[data-arn="{arn}"] .status')


def test_list_follows_status_and_job_page_shows_live_logs_metrics_and_cancel(
    server: LiveServer,
    braket: Any,
    page: Page,
    start_job: JobStarter,
    screenshots: Callable[[Page, str], Path],
) -> None:
    arn = start_job(TICKING, instanceConfig={"instanceCount": 2})
    page.goto(f"{server.url}/console/jobs")
    expect(row_status(page, arn)).to_have_text("RUNNING", timeout=EXPECT_MS)
    screenshots(page, "jobs-list")

    page.goto(job_url(server, arn))
    log = page.locator("#log")
    expect(log).to_contain_text("tick 3 from algo-1", timeout=EXPECT_MS)
    expect(log).to_contain_text("tick 3 from algo-2", timeout=EXPECT_MS)
    chart = page.locator('.chart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-series", "algo-1,algo-2", timeout=EXPECT_MS)
    expect(chart.locator("canvas")).to_have_count(1)

    page.get_by_role("tab", name="algo-2").click()
    expect(log.locator(".ln:not(.hide)").first).to_contain_text("algo-2")
    expect(log.locator('.ln[data-i="algo-1"]:not(.hide)')).to_have_count(0)
    page.get_by_role("tab", name="All instances").click()
    page.locator("#log-search").fill("tick 2 from")
    expect(log.locator(".ln:not(.hide)")).to_have_count(2)
    expect(log.locator("mark").first).to_have_text("tick 2 from")
    page.locator("#log-search").fill("")
    screenshots(page, "job-running")

    page.locator("#cancel").click()
    expect(page.locator("#job-status")).to_have_text(
        re.compile("CANCELLING|CANCELLED"), timeout=EXPECT_MS
    )
    expect(page.locator("#job-status")).to_have_text("CANCELLED", timeout=EXPECT_MS)
    assert braket.get_job(jobArn=arn)["status"] == "CANCELLED"
    expect(page.locator("#cancel-form")).to_be_hidden()

    page.goto(f"{server.url}/console/jobs")
    expect(row_status(page, arn)).to_have_text("CANCELLED")


def test_list_updates_without_reload_when_a_job_changes_state(
    server: LiveServer, braket: Any, page: Page, start_job: JobStarter
) -> None:
    arn = start_job(TICKING)
    page.goto(f"{server.url}/console/jobs?name=console")
    expect(row_status(page, arn)).to_have_text("RUNNING", timeout=EXPECT_MS)
    braket.cancel_job(jobArn=arn)
    expect(row_status(page, arn)).to_have_text("CANCELLED", timeout=EXPECT_MS)


def test_finished_job_shows_results_and_starts_a_copy(
    server: LiveServer,
    braket: Any,
    page: Page,
    start_job: JobStarter,
    screenshots: Callable[[Page, str], Path],
) -> None:
    arn = start_job(
        SAVES_RESULTS_AND_CHECKPOINT,
        hyperParameters={"shots": "100"},
        tags={"team": "qa"},
        checkpointConfig={"s3Uri": f"s3://{BUCKET}/checkpoints/{uuid.uuid4().hex}"},
    )
    page.goto(job_url(server, arn))
    expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=EXPECT_MS)
    results = page.locator("#results-json")
    expect(results).to_contain_text("energy", timeout=EXPECT_MS)
    expect(results).to_contain_text("-1.25")
    expect(page.get_by_role("link", name="Download model.tar.gz")).to_be_visible()
    expect(page.locator("#checkpoints")).to_contain_text("step7")
    expect(page.locator("#log")).to_contain_text("computing the answer")
    expect(page.locator('.chart[data-metric="energy"]')).to_have_attribute("data-series", "algo-1")
    screenshots(page, "job-completed")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download model.tar.gz").click()
    assert download.value.suggested_filename.endswith("model.tar.gz")

    page.get_by_role("button", name="Start a copy").click()
    expect(page.locator("h1")).to_contain_text("-copy-", timeout=EXPECT_MS)
    copy_url = page.url
    assert copy_url != job_url(server, arn)
    copy_arn = f"{arn.rsplit('/', 1)[0]}/{copy_url.rsplit('/', 1)[-1]}"
    copied = braket.get_job(jobArn=copy_arn)
    original = braket.get_job(jobArn=arn)
    assert copied["hyperParameters"] == original["hyperParameters"] == {"shots": "100"}
    assert copied["tags"] == {"team": "qa"}

    page.goto(f"{server.url}/console/jobs?tag=team%3Dqa")
    expect(page.locator("tr[data-arn]")).to_have_count(2)
    page.goto(f"{server.url}/console/jobs?tag=team%3Dnobody")
    expect(page.locator("tr[data-arn]")).to_have_count(0)


def test_a_forged_cross_site_post_is_refused(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/console/jobs")
    response = page.request.post(
        f"{server.url}/console/jobs/us-west-2/00000000-0000-0000-0000-000000000000/cancel",
        form={"csrf": "forged"},
    )
    assert response.status == 403


def test_bad_filter_names_the_field(server: LiveServer, page: Page) -> None:
    response = page.goto(f"{server.url}/console/jobs?status=SLEEPING")
    assert response is not None and response.status == 400
    expect(page.locator(".failure")).to_contain_text("status")


def test_unreachable_service_is_shown(
    server: LiveServer, page: Page, start_job: JobStarter
) -> None:
    arn = start_job(SAVES_RESULTS)
    page.goto(job_url(server, arn))
    expect(page.locator("#offline")).to_be_hidden()
    page.route("**/console/jobs/**", lambda route: route.abort("connectionrefused"))
    expect(page.locator("#offline")).to_be_visible(timeout=EXPECT_MS)
    page.unroute("**/console/jobs/**")
    expect(page.locator("#offline")).to_be_hidden(timeout=EXPECT_MS)


BELL = "OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nb = measure q;"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"


def test_task_page_shows_program_and_histogram_and_devices_their_queues(
    server: LiveServer,
    braket: Any,
    page: Page,
    start_job: JobStarter,
    screenshots: Callable[[Page, str], Path],
) -> None:
    from braket.ir.openqasm import Program

    start_job(SAVES_RESULTS)  # makes the module's bucket
    arn = braket.create_quantum_task(
        clientToken=str(uuid.uuid4()),
        deviceArn=SV1,
        shots=200,
        outputS3Bucket=BUCKET,
        outputS3KeyPrefix="tasks",
        action=Program(source=BELL, inputs={}).json(),
    )["quantumTaskArn"]
    page.goto(f"{server.url}/console/tasks")
    link = page.get_by_role("link", name=arn.rsplit("/", 1)[-1])
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("h1 .status")).to_have_text("COMPLETED", timeout=EXPECT_MS)
    histogram = page.locator("#histogram")
    expect(histogram.locator(".bar")).to_have_count(2)
    expect(histogram).to_contain_text("00")
    expect(histogram).to_contain_text("11")
    expect(page.locator("pre.json").first).to_contain_text("cnot q[0], q[1];")
    screenshots(page, "task")

    page.goto(f"{server.url}/console/tasks")
    page.get_by_label("Device").select_option(SV1)
    page.get_by_label("Created after (UTC)").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=arn.rsplit("/", 1)[-1])).to_be_visible()
    screenshots(page, "tasks")
    page.goto(f"{server.url}/console/tasks?device={SV1}&created_after=2099-01-01T00:00")
    expect(page.locator("td.empty")).to_have_text("No quantum tasks.")
    page.goto(f"{server.url}/console/tasks?created_before=2020-01-01T00:00")
    expect(page.locator("td.empty")).to_have_text("No quantum tasks.")
    bad = page.goto(f"{server.url}/console/tasks?created_after=yesterday")
    assert bad is not None and bad.status == 400
    expect(page.locator(".failure")).to_contain_text("created_after")

    page.goto(f"{server.url}/console/devices")
    expect(page.locator("#devices")).to_contain_text("SV1")
    expect(page.locator("#devices tr", has_text="SV1")).to_contain_text("0 / 0")
    screenshots(page, "devices")


def test_narrow_dark_window_is_usable_by_keyboard(
    server: LiveServer,
    browser: Any,
    start_job: JobStarter,
    screenshots: Callable[[Page, str], Path],
) -> None:
    arn = start_job(SAVES_RESULTS)
    context = browser.new_context(viewport={"width": 390, "height": 800}, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(job_url(server, arn))
        expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=EXPECT_MS)
        expect(page.locator("#results-json")).to_be_visible(timeout=EXPECT_MS)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 19, 23)"
        wider = page.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".filter((e) => !e.closest('.scroll, .log, pre'))"
            ".map((e) => e.tagName + '.' + e.className)"
        )
        assert not wider, f"wider than a 390 px window: {wider}"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshots(page, "job-dark-narrow")
        page.keyboard.press("Tab")
        expect(page.locator(".skip")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="hybridjobs")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{server.url}/console/jobs")
    finally:
        context.close()


def test_bad_input_gets_its_status_never_a_500(server: LiveServer, page: Page) -> None:
    job = f"{server.url}/console/jobs/us-west-2/00000000-0000-0000-0000-000000000000"
    expected = {
        f"{server.url}/console/jobs?token=not-a-token": 400,
        f"{server.url}/console/jobs?created_before=yesterday": 400,
        f"{server.url}/console/tasks?token=not-a-token": 400,
        f"{server.url}/console/tasks/us-west-2/no-such-task": 404,
        f"{server.url}/console/jobs/no%20region/x": 404,
        job: 404,
        f"{job}/state": 404,
        f"{job}/logs?after=algo-1:x": 400,
        f"{job}/metrics?after=-1": 400,
        f"{job}/results/file": 400,
        f"{job}/results/file?name=../../etc/passwd": 404,
        f"{server.url}/console/nowhere": 404,
    }
    page.goto(f"{server.url}/console/jobs")
    answered = {url: page.request.get(url).status for url in expected}
    assert answered == expected


def test_serve_links_the_console_in_its_start_up_lines(server: LiveServer) -> None:
    assert f"web console: {server.url}/console/\n" in server.log_text()
