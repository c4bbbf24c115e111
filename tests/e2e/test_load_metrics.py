"""Browser test: a burst launched from Load shows on Metrics (its processes' runs counted beside the
dashboard's own), and neither page logs NaN errors for empty charts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.helpers import PASSWORD, idle, shot

pytestmark = pytest.mark.e2e

# The "Runs ok" figure on Metrics, and "this dashboard's own engine: N ok runs" under it.
RUNS = """() => {
  const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(e => e.innerText.startsWith('Runs ok'));
  const own = document.body.innerText.match(/own engine: ([\\d,]+) ok runs/);
  if (!m || !own) return null;
  const v = m.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, '');
  return [parseInt(v), parseInt(own[1].replace(/,/g, ''))];
}"""


def nav(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible()
    idle(page)


def test_a_burst_launched_from_load_shows_on_metrics(page: Page, server: str) -> None:
    nan_errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and "NaN" in msg.text:
            nan_errors.append(msg.text)

    page.on("console", on_console)
    page.goto(server)
    idle(page)
    page.get_by_text("Operator sign-in").click()
    page.get_by_label("Operator password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as operator")).to_be_visible()
    idle(page)

    nav(page, "Metrics")  # empty charts first: "none yet", never bare axes
    expect(page.locator(".st-key-metrics-tick")).to_contain_text("every local process")
    before = page.wait_for_function(RUNS).json_value()

    nav(page, "Load")
    page.get_by_role("spinbutton", name="Users", exact=True).fill("8")
    page.get_by_role("spinbutton", name="Duration (s)", exact=True).fill("25")
    page.get_by_role("button", name="Launch burst").click()
    tick = page.locator(".st-key-load-tick")
    expect(tick).to_contain_text("running", timeout=90_000)  # the burst process builds its engine first
    expect(tick).to_contain_text(re.compile(r"([3-9]|\d\d+) s of timeline"), timeout=30_000)
    expect(page.get_by_text("Last second", exact=False).first).to_be_visible()
    shot(page, "load-mid-burst")

    nav(page, "Metrics")
    # the burst process's runs arrive through its metrics file: Runs ok rises above the dashboard's own
    page.wait_for_function(
        f"() => {{ const r = ({RUNS})(); return r && r[0] > r[1] && r[0] > {before[0]}; }}", timeout=20_000
    )
    expect(page.locator(".st-key-metrics-tick")).to_contain_text(
        re.compile(r"\b([2-9]|\d\d+) live processes")
    )
    mtick = page.locator(".st-key-metrics-tick")
    for _ in range(2):  # two more live refreshes before the screenshot
        expect(mtick).not_to_have_text(mtick.inner_text())
    page.get_by_text("Pause charts").click()  # frozen charts: drawn once, then left alone
    idle(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.querySelector('.main-svg'))"
    )
    shot(page, "metrics-during-burst")
    assert not nan_errors, nan_errors
