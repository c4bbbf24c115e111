"""Browser tests against a real server: a researcher reads a cited answer; an operator switches the
cache on, launches a burst, watches the live chart update and sees the burst finish."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, idle, shot

pytestmark = pytest.mark.e2e
QUESTION = "How do I run coroutines concurrently and wait for all of them?"


def nav(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible()
    idle(page)


def sign_in(page: Page) -> None:
    page.get_by_text("Operator sign-in").click()
    page.get_by_label("Operator password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as operator")).to_be_visible()
    idle(page)


def test_researcher_asks_and_reads_a_cited_answer(page: Page, server: str) -> None:
    page.goto(server)
    expect(page.get_by_role("heading", name="Research", exact=True).first).to_be_visible()
    nav_links = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Operations" not in nav_links and "Load" not in nav_links  # researcher: no operator pages
    page.get_by_role("textbox", name="Question", exact=True).fill("short?")
    page.get_by_role("button", name="Run research").click()
    expect(page.get_by_test_id("stAlertContentError").first).to_contain_text("10 characters")
    page.get_by_role("textbox", name="Question", exact=True).fill(QUESTION)
    page.get_by_role("button", name="Run research").click()
    cite = page.locator("a[href='#finding-1']").first
    expect(cite).to_be_visible()
    assert cite.inner_text() == "[1]"
    expect(page.get_by_text(re.compile(r"^\[1\] "))).to_be_visible()
    idle(page)
    shot(page, "research")
    page.goto(f"{server}/operations")  # not in the researcher's navigation: not reachable by URL either
    idle(page)
    expect(page.get_by_text("Page not found")).to_be_visible()
    expect(page.get_by_role("heading", name="Operations", exact=True)).to_have_count(0)
    shot(page, "researcher-operations-url")
    page.goto(server)
    idle(page)
    nav(page, "History")
    expect(page.get_by_text(re.compile(r"\d+ runs? from (the run store|this process)"))).to_be_visible()
    shot(page, "history")


@pytest.mark.timeout(300)  # several pages and a whole burst: over 120 s on a loaded 2-core machine
def test_operator_switches_cache_on_and_runs_a_live_burst(page: Page, server: str) -> None:
    page.goto(server)
    idle(page)
    page.get_by_text("Operator sign-in").click()
    page.get_by_label("Operator password", exact=True).fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong password.")).to_be_visible()
    page.get_by_label("Operator password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as operator")).to_be_visible()
    idle(page)

    nav(page, "Operations")
    page.get_by_role("button", name="Naive preset").click()
    expect(page.get_by_text("(naive)")).to_be_visible()
    idle(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Cache").click()
    page.get_by_role("option", name="l1+l2", exact=True).click()
    expect(page.get_by_role("combobox", name="Cache", exact=True)).to_have_value("l1+l2")
    page.get_by_role("button", name="Apply modes").click()
    expect(page.get_by_text(re.compile(r"Applied: now running settings v\d+ \(custom\)"))).to_be_visible()
    idle(page)
    shot(page, "operations")

    nav(page, "Load")
    page.get_by_role("spinbutton", name="Users", exact=True).fill("3")
    page.get_by_role("spinbutton", name="Duration (s)", exact=True).fill("6")
    page.get_by_role("button", name="Launch burst").click()
    tick = page.locator(".st-key-load-tick")
    expect(tick).to_contain_text("running", timeout=90_000)  # the burst process builds its engine first
    seconds = re.compile(r"(\d+) s of timeline")
    expect(tick).to_contain_text(re.compile(r"[1-9]\d* s of timeline"), timeout=30_000)
    first = int(seconds.search(tick.inner_text()).group(1))  # type: ignore[union-attr]
    expect(tick).not_to_contain_text(f"{first} s of timeline")  # the live chart moved on by itself
    shot(page, "load-running")
    expect(tick).to_contain_text("finished", timeout=120_000)
    expect(page.get_by_text("Summary", exact=True)).to_be_visible()
    idle(page)
    shot(page, "load-finished")

    for title in ("Metrics", "Experiments"):
        nav(page, title)
        shot(page, title.lower())
    nav(page, "Benchmarks")
    page.get_by_role("button", name="Run micro-benchmarks").click()
    expect(page.get_by_role("heading", name="Codecs: one result, encode + decode")).to_be_visible()
    idle(page)
    shot(page, "benchmarks")
