"""Headless Chromium clicks through every page and action of the dashboard.

The jobs are made through the store's own paths; the browser only sees the
dashboard. Screenshots land in tests/e2e/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from craft_jobs.states import JobState
from craft_jobs.store.models import NewJob, Outcome
from tests.e2e.dashboard.conftest import OPERATOR_TOKEN, VIEWER_TOKEN, shoot

pytestmark = pytest.mark.browser
SERVER = "engine-browser-1"
XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"


async def add(store, job_type="send-invoice", **fields) -> int:
    now = store.clock.now()
    fields.setdefault("parameters", {"invoice_id": 1})
    job = NewJob(job_type=job_type, state=fields.pop("state", JobState.ENQUEUED), scheduled_for=now,
                 max_attempts=3, **fields)
    return await store.insert_job(job)


async def heartbeat(store, in_flight=0):
    await store.heartbeat({"id": SERVER, "kind": "engine", "hostname": "node-a", "pid": 7, "worker_count": 20,
                           "queues": None, "in_flight": in_flight})


async def finish(store, job_id, state, error=None, executor_ref=None):
    await heartbeat(store)
    claimed = await store.claim_jobs(SERVER, 100)
    if executor_ref:
        await store.set_executor_ref(job_id, SERVER, executor_ref)
    outcomes = [Outcome(c.id, c.runs, JobState.ENQUEUED, c.attempt, "released") for c in claimed if c.id != job_id]
    attempt, run = next((c.attempt, c.runs) for c in claimed if c.id == job_id)
    outcomes.append(Outcome(job_id, run, state, attempt, "test outcome", error=error))
    await store.finish_jobs(SERVER, outcomes)


async def seed(store) -> dict[str, int]:
    for i in range(6):
        done = await add(store, "resize", parameters={"image": f"img-{i}.png"})
        await finish(store, done, JobState.SUCCEEDED)
    failed = await add(store, "send-invoice", parameters={"note": XSS})
    await finish(store, failed, JobState.FAILED, executor_ref="cj-7-run-1", error={
        "exit_code": 1, "executor_ref": "cj-7-run-1", "type": "PaymentError",
        "message": f"card declined {XSS}", "stack": "Traceback (most recent call last):\n  PaymentError"})
    parent = await add(store, "export", parameters={"report": "q1"})
    child = await add(store, "notify", state=JobState.AWAITING, parent_id=parent, parameters={"to": "ops"})
    await store.upsert_recurring(
        {"id": "ops/nightly-cleanup", "job_type": "cleanup", "queue": "default", "parameters": {}, "tenant_id": "",
         "user_id": None, "metadata": {}, "max_attempts": 3, "retry_policy": None, "timeout_seconds": None,
         "image": None, "cron": "0 3 * * *", "interval_minutes": None, "time_zone": "Europe/London",
         "concurrency_policy": "Forbid", "starting_deadline_seconds": None, "paused": False,
         "cr_uid": None, "cr_namespace": None, "cr_name": None},
        store.clock.now() + timedelta(hours=5))
    await heartbeat(store, in_flight=2)
    return {"failed": failed, "parent": parent, "child": child}


async def login(page, dashboard, token=OPERATOR_TOKEN):
    await page.goto(f"{dashboard}/jobs/")
    await expect(page).to_have_url(re.compile(r"/jobs/login\?next="))
    await page.fill("input[name=token]", token)
    await page.click("button:has-text('Log in')")
    await expect(page.locator("h1")).to_have_text("Overview")


async def test_click_through_every_page_and_action(page, dashboard, store):
    ids = await seed(store)
    await login(page, dashboard)
    await expect(page.locator(".card.state-succeeded .value")).to_have_text("6")
    await expect(page.locator("#chart svg rect.ok").first).to_be_attached()
    await expect(page.locator("#durations")).to_contain_text("resize")
    await shoot(page, "overview")

    # Live: a job made elsewhere shows up in the counts without a reload.
    await page.evaluate("window.__sameDocument = true")
    enqueued = page.locator(".card.state-enqueued .value")
    before = int(await enqueued.inner_text())
    await add(store, "hello")
    await expect(enqueued).to_have_text(str(before + 1), timeout=10_000)
    assert await page.evaluate("window.__sameDocument") is True, "the page reloaded"
    await page.click("button[data-range=hour]")
    await expect(page.locator("button[data-range=hour]")).to_have_class(re.compile("active"))

    # Jobs list, Failed tab: the parameters and error are text, not markup.
    await page.click("header nav >> text=Jobs")
    await page.click(".tabs >> text=Failed")
    row = page.locator("table.jobs tbody tr", has_text=f"#{ids['failed']}")
    await expect(row).to_contain_text("<script>window.__xss = 1</script>")
    await expect(row).to_contain_text("PaymentError: card declined")
    assert await page.evaluate("window.__xss") is None
    await shoot(page, "jobs-failed")

    # Filters: job type and text search.
    await page.click(".tabs >> text=All")
    await page.select_option("select[name=job_type]", "resize")
    await page.fill("input[name=search]", "img-3")
    await page.click("button:has-text('Filter')")
    await expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    await expect(page.locator("table.jobs tbody")).to_contain_text("img-3.png")

    # Job detail: history, the attempt's error and Kubernetes Job, then requeue and delete.
    await page.goto(f"{dashboard}/jobs/jobs/{ids['failed']}")
    await expect(page.locator("#history")).to_contain_text("exit code 1")
    await expect(page.locator("body")).to_contain_text("cj-7-run-1")
    await expect(page.locator("#parameters")).to_contain_text("<img src=x onerror")
    assert await page.evaluate("window.__xss") is None
    await shoot(page, "job-failed")
    await page.click("button:has-text('Requeue')")
    await expect(page.locator("#flash")).to_contain_text("requeued")
    await expect(page.locator("h1 .badge")).to_have_text("Enqueued")
    await expect(page.locator("#history")).to_contain_text("by ops-user")
    await page.click(".actions button:has-text('Delete')")
    await expect(page.locator("h1 .badge")).to_have_text("Deleted")

    # Live on the detail page: a state change made elsewhere is announced.
    await page.goto(f"{dashboard}/jobs/jobs/{ids['parent']}")
    await store.change_state(ids["parent"], JobState.DELETED, reason="elsewhere")
    await expect(page.locator("#state-changed")).to_contain_text("now Deleted", timeout=10_000)

    # Parent and continuation link both ways.
    await page.click(f"#continuations >> text=#{ids['child']}")
    await expect(page.locator("h1")).to_contain_text(f"Job #{ids['child']}")
    await page.click(f"#parent >> text=#{ids['parent']}")
    await expect(page.locator("h1")).to_contain_text(f"Job #{ids['parent']}")

    # Bulk: select every Succeeded job and requeue them.
    await page.goto(f"{dashboard}/jobs/jobs?state=Succeeded")
    await page.click("button:has-text('Delete selected')")  # nothing ticked yet
    await expect(page.locator("#flash")).to_contain_text("Nothing selected")
    await expect(page.locator("table.jobs tbody tr")).to_have_count(6)
    await page.check("#select-all")
    await expect(page.locator("#selected-count")).to_have_text("6 selected")
    await page.click("button:has-text('Requeue selected')")
    await expect(page.locator("#flash")).to_contain_text("6 job(s) requeued")
    await expect(page.locator("table.jobs tbody tr.empty")).to_have_count(1)

    # Recurring, with an id as a RecurringJob from YAML has (`<namespace>/<name>`): trigger, pause, resume, delete.
    await page.click("header nav >> text=Recurring")
    row = page.locator("tr[id='r-ops/nightly-cleanup']")
    await expect(row).to_contain_text("0 3 * * *")
    await expect(row).to_contain_text("Europe/London")
    await row.locator("button:has-text('Trigger now')").click()
    await expect(page.locator("#flash")).to_contain_text("ops/nightly-cleanup triggered: job")
    await expect(row.locator(".badge")).to_have_text("Enqueued")
    await shoot(page, "recurring")
    await row.locator("button:has-text('Pause')").click()
    await expect(row.locator(".badge.paused")).to_have_text("Paused")
    await row.locator("button:has-text('Resume')").click()
    await expect(row.locator(".badge.paused")).to_have_count(0)
    await row.locator("button:has-text('Delete')").click()
    await expect(page.locator("#recurring")).to_contain_text("No recurring jobs.")

    # Servers.
    await page.click("header nav >> text=Servers")
    await expect(page.locator("#servers")).to_contain_text(SERVER)
    await expect(page.locator("#servers")).to_contain_text("node-a")
    await shoot(page, "servers")

    await page.click("header nav >> text=API")
    await expect(page.locator("h1")).to_contain_text("REST API")
    await page.goto(f"{dashboard}/jobs/")
    await page.click("button:has-text('Log out')")
    await expect(page).to_have_url(re.compile(r"/jobs/login"))


async def test_a_viewer_sees_no_action_buttons(page, dashboard, store):
    ids = await seed(store)
    await login(page, dashboard, VIEWER_TOKEN)
    await page.goto(f"{dashboard}/jobs/jobs/{ids['failed']}")
    await expect(page.locator("h1 .badge")).to_have_text("Failed")
    await expect(page.locator("button:has-text('Requeue')")).to_have_count(0)
    await page.goto(f"{dashboard}/jobs/recurring")
    await expect(page.locator("button:has-text('Trigger now')")).to_have_count(0)
    await page.goto(f"{dashboard}/jobs/jobs")
    await expect(page.locator("button:has-text('Delete selected')")).to_have_count(0)
    await shoot(page, "viewer-jobs")


async def test_api_docs_are_interactive_with_local_assets_only(page, dashboard, store):
    await store.insert_job(NewJob(job_type="resize", parameters={}, state=JobState.ENQUEUED,
                                  scheduled_for=store.clock.now(), max_attempts=3, queue="default", tenant_id=""))
    await login(page, dashboard)
    requested: list[str] = []
    refused: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    await page.goto(f"{dashboard}/api/docs")
    operation = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/jobs$")).first
    await expect(operation).to_be_visible()
    assert await page.locator(".opblock").count() >= 20
    # "Try it out" with the session's cookie: the list comes back in its envelope.
    await operation.click()
    await page.get_by_role("button", name="Try it out").first.click()
    await page.get_by_role("button", name="Execute").first.click()
    await expect(page.locator(".responses-wrapper .live-responses-table").first).to_contain_text('"items"')
    await shoot(page, "api-docs")
    assert all(url.startswith(dashboard) for url in requested), [u for u in requested if not u.startswith(dashboard)]
    assert refused == []
