"""The views and actions beyond the click-through: page numbers and sizes, bulk
across pages with its confirmation, live regions and their pause, the recurring
job page, Retries, Queues, time zones and the theme. The actions run at 1440 px
and at 390 px."""

from __future__ import annotations

import re

import pytest
import pytest_asyncio
from playwright.async_api import expect

from craft_jobs.states import JobState
from tests.e2e.dashboard.conftest import LOOP
from tests.e2e.dashboard.data import add, add_recurring, heartbeat, recurring, seed
from tests.e2e.dashboard.test_dashboard_browser import login

pytestmark = pytest.mark.browser
WIDTHS = {"wide": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
# Pages poll every 0.5 s in these tests; a change must show well within 2 s.
LIVE_MS = 2_000


@pytest_asyncio.fixture(params=list(WIDTHS), loop_scope=LOOP)
async def sized_page(request, page):
    await page.set_viewport_size(WIDTHS[request.param])
    return page


async def test_page_numbers_filtered_counts_and_bulk_across_pages(sized_page, dashboard, store):
    page = sized_page
    for i in range(45):
        await add(store, "bulk-mail", queue="mail", parameters={"n": i})
    for _ in range(3):
        await add(store, "other")
    await login(page, dashboard)
    await page.goto(f"{dashboard}/jobs/jobs?state=Enqueued&job_type=bulk-mail&limit=20")
    # The tabs count what the filters select, not every Enqueued job.
    await expect(page.locator("#state-tabs .tab", has_text="Enqueued")).to_contain_text("45")
    await expect(page.locator("#total")).to_have_text("1–20 of 45")
    await expect(page.locator("table.jobs tbody tr")).to_have_count(20)
    await page.click(".pager a[aria-label='page 3']")
    await expect(page.locator("#total")).to_have_text("41–45 of 45")
    await page.select_option("select[name=limit]", "50")
    await expect(page.locator("#total")).to_have_text("1–45 of 45")
    await expect(page).to_have_url(re.compile(r"limit=50"))
    await page.select_option("select[name=limit]", "20")
    await expect(page.locator("#total")).to_have_text("1–20 of 45")

    # Select the page, then all 45 matching; a dismissed confirmation deletes nothing.
    await page.check("#select-all")
    await expect(page.locator("#selected-count")).to_have_text("20 selected")
    await page.click("#select-matching-button")
    await expect(page.locator("#selected-count")).to_have_text("45 selected")
    page.dismiss_dialogs = True
    await page.click("button:has-text('Delete selected')")
    assert page.dialogs[-1] == "Delete all 45 matching jobs? This cannot be undone."
    await expect(page.locator("#total")).to_have_text("1–20 of 45")
    page.dismiss_dialogs = False
    await page.click("button:has-text('Delete selected')")
    await expect(page.locator("#flash")).to_contain_text("45 job(s) deleted")
    await expect(page.locator("#state-tabs .tab", has_text="Deleted")).to_contain_text("45")
    await expect(page.locator("#state-tabs .tab", has_text="Enqueued")).to_contain_text("0")
    assert (await store.get_job(1)).state is JobState.DELETED
    others = await store.list_jobs(job_type="other")
    assert [j.state for j in others] == [JobState.ENQUEUED] * 3, "only the matching jobs"

    # A few ticked boxes: the confirmation names how many.
    await page.goto(f"{dashboard}/jobs/jobs?state=Enqueued")
    await page.locator("input[name=ids]").first.check()
    await page.click("button:has-text('Delete selected')")
    assert page.dialogs[-1] == "Delete 1 job(s)? This cannot be undone."
    await expect(page.locator("#flash")).to_contain_text("1 job(s) deleted")


async def open_live(page, url):
    await page.goto(url)
    await page.evaluate("window.__sameDocument = true")


async def same_document(page):
    assert await page.evaluate("window.__sameDocument") is True, "the page reloaded"


async def test_live_regions_update_without_reload_and_pause(page, dashboard, store):
    ids = await seed(store)
    await login(page, dashboard)
    await open_live(page, f"{dashboard}/jobs/jobs?state=Enqueued")
    new = await add(store, "arrives-live")
    await expect(page.locator("table.jobs tbody")).to_contain_text(f"#{new}", timeout=LIVE_MS)
    await expect(page.locator("#state-tabs .tab", has_text="Enqueued")).to_contain_text("2", timeout=LIVE_MS)

    # Paused (and remembered over a reload): nothing changes until resumed.
    await page.click("#live-toggle")
    await expect(page.locator("#live-status")).to_have_text("paused")
    await open_live(page, page.url)
    await expect(page.locator("#live-toggle")).to_have_text("Resume")
    later = await add(store, "arrives-while-paused")
    await page.wait_for_timeout(1_500)  # three polling rounds: the absence of a change is the point
    await expect(page.locator("table.jobs tbody")).not_to_contain_text(f"#{later}")
    await page.click("#live-toggle")
    await expect(page.locator("table.jobs tbody")).to_contain_text(f"#{later}", timeout=LIVE_MS)

    # Job detail: the state badge and history follow the job.
    await same_document(page)
    await open_live(page, f"{dashboard}/jobs/jobs/{ids['parent']}")
    await store.change_state(ids["parent"], JobState.DELETED, reason="deleted elsewhere")
    await expect(page.locator("h1 .badge")).to_have_text("Deleted", timeout=LIVE_MS)
    await expect(page.locator("#history")).to_contain_text("deleted elsewhere")
    await expect(page.locator("#state-changed")).to_have_text("This job is now Deleted.")

    # Servers: workers busy and heartbeat age.
    await same_document(page)
    await open_live(page, f"{dashboard}/jobs/servers")
    await heartbeat(store, in_flight=7)
    await expect(page.locator("#servers")).to_contain_text("7 of 20", timeout=LIVE_MS)
    await expect(page.locator("#servers time").last).to_have_text(re.compile(r"now|\d s ago"))

    # Recurring: paused elsewhere shows here.
    await same_document(page)
    await open_live(page, f"{dashboard}/jobs/recurring")
    await store.set_recurring_paused("ops/nightly-cleanup", True, None, "")
    await expect(page.locator("tr[id='r-ops/nightly-cleanup'] .badge.paused")).to_have_text("Paused", timeout=LIVE_MS)

    # Queues: depth, oldest waiting, running.
    await same_document(page)
    await open_live(page, f"{dashboard}/jobs/queues")
    await add(store, "report", queue="reports")
    row = page.locator("#queues tr", has_text="reports")
    await expect(row).to_contain_text("1", timeout=LIVE_MS)
    await expect(row.locator("time")).to_have_text(re.compile(r"^\d+ s$"))
    await same_document(page)


async def test_recurring_job_page_and_its_actions(sized_page, dashboard, store):
    page = sized_page
    await add_recurring(store, recurring("ops/nightly-cleanup"))
    await add_recurring(store, recurring("every-5", cron=None, interval_minutes=5, time_zone="UTC"))
    for _ in range(22):
        await add(store, "cleanup", recurring_id="ops/nightly-cleanup")
    await login(page, dashboard)
    await page.goto(f"{dashboard}/jobs/recurring")
    await expect(page.locator("tr[id='r-every-5']")).to_contain_text("every 5 minutes")
    await expect(page.locator("tr[id='r-ops/nightly-cleanup'] .own-zone")).to_contain_text("03:00 GMT (Europe/London)")
    await page.click("text=ops/nightly-cleanup")
    await expect(page.locator("h1")).to_contain_text("ops/nightly-cleanup")
    await expect(page.locator("#schedule-words")).to_have_text("every day at 03:00 (Europe/London)")
    times = page.locator("#fire-times li")
    await expect(times).to_have_count(5)
    await expect(times.first).to_contain_text("03:00 GMT (Europe/London)")
    await expect(page.locator("#runs-pager #total")).to_have_text("1–20 of 22")
    await page.click("#runs-pager a[aria-label='page 2']")
    await expect(page.locator("#run-rows tr")).to_have_count(2)

    await page.click(".actions button:has-text('Trigger now')")
    await expect(page.locator("#flash")).to_contain_text("ops/nightly-cleanup triggered: job")
    await expect(page.locator("#runs-pager #total")).to_have_text("1–20 of 23")
    await expect(page).to_have_url(re.compile(r"/recurring/ops/nightly-cleanup"))
    await page.click(".actions button:has-text('Pause')")
    await expect(page.locator("h1 .badge.paused")).to_have_text("Paused")
    await expect(page.locator("#fire-times").locator("..")).to_contain_text("when resumed")
    await page.click(".actions button:has-text('Resume')")
    await expect(page.locator("h1 .badge.paused")).to_have_count(0)
    await page.click(".actions button:has-text('Delete')")
    assert page.dialogs[-1] == "Delete recurring job ops/nightly-cleanup? Jobs it fired stay."
    await expect(page.locator("#flash")).to_contain_text("ops/nightly-cleanup deleted")
    await expect(page.locator("h1")).to_have_text("Recurring jobs")
    assert await store.get_recurring("ops/nightly-cleanup") is None


async def test_times_zones_theme_retries_and_keyboard(page, dashboard, store):
    ids = await seed(store)
    await login(page, dashboard)
    await page.goto(f"{dashboard}/jobs/jobs/{ids['failed']}")
    created = page.locator("#facts time").first
    await expect(created).to_have_text(re.compile(r" UTC$"))
    await page.click("#tz-toggle")
    await expect(page.locator("#tz-toggle")).to_have_text("Times: local")
    await expect(created).to_have_text(re.compile(r" GMT\+5:30$"))  # the browser's zone (BROWSER_ZONE)
    await page.reload()
    await expect(created).to_have_text(re.compile(r" GMT\+5:30$"))
    # Relative times carry the absolute one, in the same zone, on hover.
    await page.goto(f"{dashboard}/jobs/jobs?state=Scheduled")
    runs_at = page.locator("table.jobs tbody tr", has_text=f"#{ids['delayed']}").locator("td[data-label='Runs at'] time")
    await expect(runs_at).to_have_text(re.compile(r"^in (1 h 59 min|2 h)$"))
    await expect(runs_at).to_have_attribute("title", re.compile(r" GMT\+5:30$"))
    await page.click("#tz-toggle")
    await expect(runs_at).to_have_attribute("title", re.compile(r" UTC$"))

    # Retries: attempt, last error, next run.
    await page.click("header nav >> text=Retries")
    row = page.locator("#retries tbody tr", has_text=f"#{ids['retrying']}")
    await expect(row).to_contain_text("1/3")
    await expect(row).to_contain_text("TimeoutError: CRM did not answer within 30 s")
    await expect(row.locator("time")).to_have_text(re.compile(r"^in (9|10) min"))
    await expect(page.locator("#retries tbody tr")).to_have_count(1)  # the delayed job is not a retry
    await page.check(f"input[name=ids][value='{ids['retrying']}']")
    await page.click("button:has-text('Requeue selected now')")
    await expect(page.locator("#flash")).to_contain_text("1 job(s) requeued")
    await expect(page.locator("#retries")).to_contain_text("No job is waiting for a retry.")

    # Theme: system -> light -> dark, remembered, and it wins over the system's.
    await page.emulate_media(color_scheme="light")
    theme = page.locator("#theme-toggle")
    await expect(theme).to_have_text("Theme: system")
    await theme.click()
    await expect(theme).to_have_text("Theme: light")
    await theme.click()
    await expect(theme).to_have_text("Theme: dark")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await page.reload()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 22, 31)"
    await theme.click()
    await expect(theme).to_have_text("Theme: system")
    await page.emulate_media(color_scheme="dark")  # "system" follows the system's setting as it changes
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await page.emulate_media(color_scheme="light")
    await expect(page.locator("html")).to_have_attribute("data-theme", "light")

    # Keyboard: the first Tab reaches "Skip to content", Enter moves focus to the page's content.
    await page.goto(f"{dashboard}/jobs/queues")
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    assert (await page.evaluate("document.querySelector('link[rel=icon]').href")).endswith("/static/favicon.svg")
    assert (await page.request.get(f"{dashboard}/jobs/static/favicon.svg")).ok
