"""The dashboard in a real browser: Playwright driving Debian's Chromium against `conveyor serve`.

Run with ``make browser-test`` (marker ``browser``; not part of ``make test``).
Set ``DASHBOARD_SCREENSHOTS`` to a directory to write the README's screenshots there.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import api, config
from conveyor.backends.base import JobState, WorkerInfo
from conveyor.backends.periodic import PeriodicDeclaration
from conveyor.web import auth
from support import CONVEYOR, StartWorker, serving, wait_until

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<script>alert('t')</script>\"'><img src=x onerror=alert(2)>javascript:alert(3)\x07"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path


@pytest.fixture
def server(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    log = tmp_path / "serve.log"
    with serving(subprocess_env, log, threads=4, ready_path="/dashboard/signin") as (
        process,
        base,
    ):
        yield Server(process, base, log)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium (Debian's), with its own profile directory."""
    from playwright.sync_api import sync_playwright  # the `browser` extra

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def signed_in(browser: Any, server: Server, token: str) -> Any:
    page = browser.new_page()
    page.goto(f"{server.base}/dashboard/")
    assert page.url.endswith("/dashboard/signin")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/dashboard/")
    return page


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("DASHBOARD_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"dashboard-{name}.png"), full_page=True)


def _state(job_id: str) -> JobState | None:
    record = api.backend().get(job_id)
    return None if record is None else record.state


def _claim(queue: str) -> Any:
    prefix = config.current().queue_prefix
    [record] = api.backend().claim([prefix + queue], worker="w1", lease=300, now=time.time())
    return record


def test_every_page_renders_with_data(
    browser: Any, server: Server, subprocess_env: dict[str, str]
) -> None:
    _, token = auth.create_token("ops")
    for n in range(6):
        conveyor.enqueue(conveyor_test_jobs.add, args=[n, 1], queue="done", title=f"sum {n}")
    broken = conveyor.enqueue(
        conveyor_test_jobs.failing_job, queue="done", title="broken", max_attempts=1
    )
    subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst", "done"], env=subprocess_env, check=True, timeout=60
    )
    for n in range(3):
        conveyor.enqueue(conveyor_test_jobs.succeed, queue="mail", title=f"newsletter {n}")
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="reports", title="monthly report")
    running = _claim("mail")
    prefix = config.current().queue_prefix
    api.backend().register_worker(
        WorkerInfo(
            key="w-key-1",
            queues=(prefix + "mail", prefix + "reports"),
            host="worker-1.example",
            pid=4242,
            started_at=time.time() - 90,
            heartbeat_at=time.time(),
            jobs=(running.id,),
            state="busy",
            name="worker-1.4242",
        ),
        ttl=300,
        now=time.time(),
    )
    _declare_periodic()
    page = signed_in(browser, server, token)
    assert page.locator("[data-queue=mail] [data-count=queued]").inner_text() == "2"
    assert page.locator("[data-queue=mail] [data-count=started]").inner_text() == "1"
    assert page.locator("[data-testid=workers-busy]").inner_text() == "1"
    assert page.locator("[data-queue=done] [data-count=finished]").inner_text() == "6"
    assert page.locator("[data-queue=done] [data-count=failed]").inner_text() == "1"
    assert page.locator("[data-testid=chart]").count() == 2
    finished_bars = page.locator("[data-testid=chart] rect.finished:not([height='0.0'])")
    assert finished_bars.count() >= 2  # at least one bucket in each chart
    _shot(page, "overview")

    page.click("[data-queue=mail] [data-count=queued]")
    assert page.locator("[data-testid=jobs] tbody tr").count() == 2
    page.fill("input[name=q]", "NEWSLETTER 2")
    page.click("form.filters button")
    assert page.locator("[data-testid=jobs] tbody tr").count() == 1
    assert "newsletter 2" in page.locator("[data-testid=jobs]").inner_text()
    page.goto(f"{server.base}/dashboard/jobs?state=queued")
    _shot(page, "jobs")

    page.goto(f"{server.base}/dashboard/jobs/{running.id}")
    assert page.locator("[data-testid=job-state]").inner_text() == "started"
    assert "started" in page.locator("[data-testid=timeline]").inner_text()

    page.goto(f"{server.base}/dashboard/jobs/{broken.id}")
    assert page.locator("[data-testid=job-state]").inner_text() == "failed"
    attempts = page.locator("[data-testid=attempts]")
    assert "failed" in attempts.inner_text()
    page.click("[data-testid=attempts] summary")
    assert "Traceback" in attempts.locator("details pre").inner_text()
    _shot(page, "job")

    page.goto(f"{server.base}/dashboard/workers")
    row = page.locator("[data-worker='worker-1.4242']")
    assert "worker-1.example" in row.inner_text()
    assert "newsletter 0" in row.inner_text()
    _shot(page, "workers")

    page.goto(f"{server.base}/dashboard/periodic")
    row = page.locator("[data-periodic=nightly]")
    assert "every 3600" in row.inner_text()
    assert "conveyor_test_jobs:succeed" in row.inner_text()
    _shot(page, "periodic")


def test_periodic_jobs_run_now_and_disable(browser: Any, server: Server) -> None:
    _, token = auth.create_token("ops")
    _declare_periodic()
    # The server's process does not import the job's declaration: a run now copies the
    # job of the last tick, which a worker would have enqueued.
    prefix = config.current().queue_prefix
    ticked = api.build_job(
        "conveyor_test_jobs:succeed", [], None, "nightly", config=config.current(),
        now=time.time(),
    )  # fmt: skip
    assert api.backend().claim_tick(prefix + "nightly", time.time() + 1, ticked, now=time.time())
    page = signed_in(browser, server, token)
    page.goto(f"{server.base}/dashboard/periodic")
    page.click("[data-periodic=nightly] button[data-action=periodic_run]")
    notice = page.locator(".notice").inner_text()
    assert notice.startswith("Enqueued nightly now as job ")
    job_id = notice.rsplit(" ", 1)[1]
    assert job_id != ticked.id
    assert _state(job_id) is JobState.QUEUED
    assert api.backend().periodic_entries(prefix)[0].last_job_id == ticked.id  # schedule kept
    page.click("[data-periodic=nightly] button[data-action=periodic_disable]")
    wait_until(
        lambda: not api.backend().periodic_entries(config.current().queue_prefix)[0].enabled,
        "the periodic job to be disabled",
    )
    assert page.locator("[data-periodic=nightly] button[data-action=periodic_enable]").count() == 1


def _declare_periodic() -> None:
    prefix = config.current().queue_prefix
    declaration = PeriodicDeclaration(
        name=prefix + "nightly",
        schedule="every 3600",
        timezone="UTC",
        func="conveyor_test_jobs:succeed",
        queue=prefix + "default",
        baseline=time.time(),
    )
    api.backend().declare_periodic([declaration], now=time.time())


def test_live_progress_updates_without_a_reload(browser: Any, server: Server) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    record = _claim("q")
    page = signed_in(browser, server, token)
    page.goto(f"{server.base}/dashboard/jobs/{job.id}")
    text = page.locator("[data-testid=progress-text]")
    assert text.inner_text() == "no progress reported"
    store = api.backend()
    progress = {"fraction": 0.25, "message": "<b>step</b> one"}
    assert store.save_meta(job.id, {"progress": progress}, token=record.lease_token)
    wait_until(lambda: text.inner_text() == "25% <b>step</b> one", "the page to show 25%")
    assert page.locator("[data-testid=progress-bar]").get_attribute("value") is not None
    progress = {"fraction": 0.75, "message": "two"}
    assert store.save_meta(job.id, {"progress": progress}, token=record.lease_token)
    wait_until(lambda: text.inner_text() == "75% two", "the page to show 75%")
    assert float(page.eval_on_selector("progress", "e => e.value")) == 0.75


def test_actions_change_the_store(browser: Any, server: Server) -> None:
    _, token = auth.create_token("ops")
    kept = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q", title="kept")
    page = signed_in(browser, server, token)

    # Canceling a job asks first; dismissing the question changes nothing.
    page.goto(f"{server.base}/dashboard/jobs/{kept.id}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button[data-action=cancel]")
    assert _state(kept.id) is JobState.QUEUED
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-action=cancel]")
    wait_until(lambda: _state(kept.id) is None, "the queued job to be canceled (removed)")

    running = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q", title="running")
    _claim("q")
    page.goto(f"{server.base}/dashboard/jobs/{running.id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-action=cancel]")
    wait_until(lambda: _state(running.id) is JobState.CANCELED, "the running job to be canceled")
    page.goto(f"{server.base}/dashboard/jobs/{running.id}")
    page.click("button[data-action=requeue]")
    wait_until(lambda: _state(running.id) is JobState.QUEUED, "the job to be requeued")
    assert "Requeued 1 job" in page.locator(".notice").inner_text()

    # Select all, delete: every listed job goes.
    others = [conveyor.enqueue(conveyor_test_jobs.succeed, queue="bulk") for _ in range(3)]
    page.goto(f"{server.base}/dashboard/jobs?state=queued&queue=bulk")
    page.check("input.select-all")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-action=delete]")
    wait_until(lambda: all(_state(job.id) is None for job in others), "the bulk delete")

    # Clear a queue from the overview.
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    page.goto(f"{server.base}/dashboard/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-queue=q] button[data-action=clear_queue]")
    wait_until(lambda: conveyor.manage.job_count(["q"]) == 0, "queue q to be cleared")


def test_pause_and_resume_a_queue(browser: Any, server: Server) -> None:
    if not hasattr(conveyor.manage, "queue_pause"):
        pytest.fail("conveyor.manage.queue_pause is not available in this tree")
    _, token = auth.create_token("ops")
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    page = signed_in(browser, server, token)
    page.click("[data-queue=q] button[data-action=pause_queue]")
    wait_until(lambda: "q" in conveyor.manage.paused_queues(), "queue q to be paused")
    page.click("[data-queue=q] button[data-action=resume_queue]")
    wait_until(lambda: "q" not in conveyor.manage.paused_queues(), "queue q to be resumed")


def test_a_read_only_token_sees_but_cannot_act(browser: Any, server: Server) -> None:
    _, token = auth.create_token("viewer", read_only=True)
    job = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    page = signed_in(browser, server, token)
    assert "(read-only)" in page.locator("[data-testid=who]").inner_text()
    page.goto(f"{server.base}/dashboard/jobs/{job.id}")
    assert page.locator("button[data-action]").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(
        f"{server.base}/dashboard/action",
        form={"csrf": csrf, "action": "cancel", "ids": job.id},
        max_redirects=0,
    )
    assert answer.status == 403
    assert _state(job.id) is JobState.QUEUED


def test_an_action_without_the_csrf_value_is_refused(browser: Any, server: Server) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    page = signed_in(browser, server, token)
    for form in ({"action": "cancel", "ids": job.id}, {"csrf": "x", "action": "cancel"}):
        answer = page.request.post(f"{server.base}/dashboard/action", form=form, max_redirects=0)
        assert answer.status == 400
    assert _state(job.id) is JobState.QUEUED


def test_hostile_job_data_is_rendered_inert(browser: Any, server: Server) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(
        conveyor_test_jobs.succeed, args=[HOSTILE], kwargs={"k": HOSTILE}, title=HOSTILE
    )
    page = signed_in(browser, server, token)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in ["/dashboard/jobs", f"/dashboard/jobs/{job.id}"]:
        page.goto(f"{server.base}{path}")
        assert page.locator("img").count() == 0
        assert page.locator("main script").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
    title = page.locator("[data-testid=job-title]").inner_text()
    assert title.startswith("<script>alert('t')</script>")
    assert "\\x07" in title
    assert "<img src=x" in page.locator("[data-testid=job-args]").inner_text()
    assert dialogs == []


def test_quiet_then_stop_a_real_worker(
    browser: Any, server: Server, start_worker: StartWorker
) -> None:
    if not hasattr(conveyor.manage, "worker_quiet"):
        pytest.fail("conveyor.manage.worker_quiet is not available in this tree")
    _, token = auth.create_token("ops")
    worker = start_worker("--name", "steered", "q")

    def state() -> str | None:
        found = [w for w in conveyor.manage.worker_list() if w["name"] == "steered"]
        return str(found[0]["state"]) if found else None

    wait_until(lambda: state() == "idle", "the worker to register")
    page = signed_in(browser, server, token)
    page.goto(f"{server.base}/dashboard/workers")
    page.click("[data-worker=steered] button[data-action=quiet_worker]")
    wait_until(lambda: state() == "quiet", "the worker to be quiet")
    page.goto(f"{server.base}/dashboard/workers")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-worker=steered] button[data-action=stop_worker]")
    wait_until(lambda: not worker.running(), "the worker to stop")
    assert worker.exit_code() == 0, worker.stderr
