"""Headless Chromium clicks through every page and action of the dashboard.

The jobs are made through the store's own paths; the browser only sees the
dashboard. Screenshots land in tests/e2e/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from craft_jobs.states import JobState
from craft_jobs.store.models import NewJob
from tests.e2e.dashboard.conftest import OPERATOR_TOKEN, SCREENSHOTS, VIEWER_TOKEN
from tests.e2e.dashboard.data import SERVER, add, seed

pytestmark = pytest.mark.browser


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
    await expect(page.locator("input[name=ids]")).to_have_count(0)  # nothing to tick either


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
    await page.screenshot(path=str(SCREENSHOTS / "api-docs-wide-light.png"), full_page=True)
    assert all(url.startswith(dashboard) for url in requested), [u for u in requested if not u.startswith(dashboard)]
    assert refused == []
