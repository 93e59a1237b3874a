"""Browser fixtures: a real uvicorn serving the dashboard on 127.0.0.1, and headless Chromium.

One Chromium serves every browser test (launching it costs seconds on a busy
machine), so these tests and their async fixtures share the session's event
loop; each test still gets its own database, server and browser context.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import pytest_asyncio

from craft_jobs.dashboard.app import create_app
from craft_jobs.dashboard.settings import DashboardSettings
from craft_jobs.options import load_options
from craft_jobs.store.connector import Connector
from craft_jobs.store.store import JobStore
from tests.support.served import served

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"
# Installed by scripts/install-tools.sh; injected into pages for the accessibility check.
AXE = ROOT / ".tools" / "axe-core-4.10.2" / "axe.min.js"
LOOP = "session"
OPERATOR_TOKEN = "browser-operator-token-0123"
VIEWER_TOKEN = "browser-viewer-token-012345"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: run scripts/install-tools.sh")
    for item in items:
        if "e2e/dashboard" in str(item.fspath):
            item.add_marker(pytest.mark.asyncio(loop_scope=LOOP), append=False)
            if not CHROMIUM.exists():
                item.add_marker(skip)


@pytest_asyncio.fixture(loop_scope=LOOP)
async def store(database_url_for_test, tmp_path):
    options = load_options(connection_string=database_url_for_test, data_dir=tmp_path)
    connector = Connector(options.connection_string, max_size=5)
    await connector.open()
    store = JobStore(connector, options)
    yield store
    await store.close()


@pytest_asyncio.fixture(loop_scope=LOOP)
async def dashboard(store, tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"name": "ops-user", "token": OPERATOR_TOKEN, "role": "operator"},
        {"name": "victor", "token": VIEWER_TOKEN, "role": "viewer"},
    ]}))
    settings = DashboardSettings(auth_mode="token", tokens_file=tokens, live_interval_seconds=0.5)
    async with served(create_app(store.options, store=store, settings=settings)) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope=LOOP)
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()


# The browser's own zone is not UTC, so switching the pages' time zone shows.
BROWSER_ZONE = "Asia/Kolkata"


@pytest_asyncio.fixture(loop_scope=LOOP)
async def page(browser):
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id=BROWSER_ZONE)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Dialogs (confirmations) are recorded and accepted, or dismissed while `page.dismiss_dialogs` is set.
    page.dialogs = []
    page.dismiss_dialogs = False

    def answer(dialog):
        page.dialogs.append(dialog.message)
        asyncio.ensure_future(dialog.dismiss() if page.dismiss_dialogs else dialog.accept())

    page.on("dialog", answer)
    yield page
    await context.close()
    assert errors == [], f"JavaScript errors: {errors}"
