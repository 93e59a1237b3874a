"""Every page at 1440 px and 390 px, light and dark: a screenshot each (kept in
tests/e2e/screenshots/ to be looked at), nothing wider than the window, and
axe-core finding no serious or critical accessibility violation."""

from __future__ import annotations

import pytest

from tests.e2e.dashboard.conftest import AXE, SCREENSHOTS
from tests.e2e.dashboard.data import heartbeat, seed
from tests.e2e.dashboard.test_dashboard_browser import login

pytestmark = pytest.mark.browser
WIDTHS = {"wide": (1440, 900), "phone": (390, 844)}
THEMES = ("light", "dark")
# Long pages are cut here: enough to judge the layout, small enough to keep in git.
MAX_HEIGHT = 1800

AXE_SERIOUS = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + ": " + v.help + " at " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""


def pages(base: str, ids: dict[str, int]) -> dict[str, str]:
    """The pages seen once logged in."""
    return {
        "overview": f"{base}/", "jobs-failed": f"{base}/jobs?state=Failed", "jobs-scheduled": f"{base}/jobs?state=Scheduled",
        "job": f"{base}/jobs/{ids['failed']}", "retries": f"{base}/retries", "recurring": f"{base}/recurring",
        "recurring-job": f"{base}/recurring/ops/nightly-cleanup", "queues": f"{base}/queues", "servers": f"{base}/servers",
        "audit": f"{base}/audit",
    }


async def test_every_page_at_two_widths_in_both_themes(page, dashboard, store):
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run scripts/install-tools.sh")
    ids = await seed(store)
    axe = AXE.read_text()
    problems: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await look(page, store, axe, "login", f"{dashboard}/jobs/login", problems)
    await login(page, dashboard)
    for name, url in pages(f"{dashboard}/jobs", ids).items():
        await look(page, store, axe, name, url, problems)
    assert not problems, "\n".join(problems)


async def look(page, store, axe: str, name: str, url: str, problems: list[str]) -> None:
    """One page at each width and theme: a screenshot, the overflow check and axe; findings go to `problems`."""
    for width_name, (width, height) in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": height})
        for theme in THEMES:
            await heartbeat(store, in_flight=2)  # fresh, or the servers page shows it stale
            await page.emulate_media(color_scheme=theme)
            await page.goto(url)
            where = f"{name} {width_name} {theme}"
            assert await page.evaluate("document.documentElement.dataset.theme") == theme, where
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"{where}: {overflow}px wider than the window")
            full = await page.evaluate("document.documentElement.scrollHeight")
            await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width_name}-{theme}.png"), full_page=True,
                                  clip={"x": 0, "y": 0, "width": width, "height": min(full, MAX_HEIGHT)},
                                  animations="disabled", caret="hide")
            if width_name == "wide" or theme == "light":
                if not await page.evaluate("typeof window.axe !== 'undefined'"):
                    await page.evaluate(axe)
                problems += [f"{where}: {v}" for v in await page.evaluate(AXE_SERIOUS)]
