"""Research in a real browser: a cited answer that restates its question (screenshot), an over-long
paste refused with the limit named, and no request leaving the machine (the favicon is local)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import idle, shot

pytestmark = pytest.mark.e2e
# Not the other e2e tests' question: this one must be computed first, then come from the cache.
QUESTION = "How do I run several coroutines at once and collect all their results?"


def run_research(page: Page) -> None:
    page.get_by_role("button", name="Run research").click()
    idle(page)


def test_a_cited_answer_with_every_request_on_this_machine(page: Page, server: str) -> None:
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(urlsplit(r.url).hostname or r.url))
    page.goto(server)
    idle(page)
    page.get_by_role("textbox", name="Question", exact=True).fill(QUESTION)
    run_research(page)
    answer = page.locator(".st-key-answer")
    expect(answer).to_contain_text(f"Question: {QUESTION}")
    expect(answer.locator("a[href='#finding-1']").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\[1\] "))).to_be_visible()
    expect(page.get_by_role("heading", name="Where the time went")).to_be_visible()
    idle(page)
    shot(page, "research-cited-answer")
    page.get_by_role("heading", name="Where the time went").scroll_into_view_if_needed()
    shot(page, "research-timings")
    with page.expect_download() as info:  # every table has a CSV button (headless, no file picker)
        page.locator(".st-key-node_timings_csv").get_by_role("button").click()
    csv = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert csv[0] == "node,start_ms,duration_ms,cache_hit" and len(csv) >= 5, csv
    run_research(page)  # the same question again: the whole result comes from the cache
    note = re.compile(r"From cache( \(L\d\))? in .*: the original run took .*, so .* saved")
    expect(page.get_by_text(note)).to_be_visible()
    shot(page, "research-from-cache")
    favicon = page.locator("link[rel~='icon']").first.get_attribute("href") or ""
    assert not favicon.startswith("http") or urlsplit(favicon).hostname == "127.0.0.1", favicon
    outside = sorted({h for h in hosts if h not in ("127.0.0.1", "localhost")})
    assert not outside, f"requests left the machine: {outside}"


def test_an_over_long_paste_is_refused_naming_the_limit(page: Page, server: str) -> None:
    page.goto(server)
    idle(page)
    pasted = "Why does my coroutine never finish when I gather it with a timeout? " * 12
    box = page.get_by_role("textbox", name="Question", exact=True)
    box.fill(pasted)
    run_research(page)
    error = page.get_by_test_id("stAlertContentError").first
    expect(error).to_contain_text("the limit is 500 characters")
    expect(error).to_contain_text(f"{len(pasted.strip()):,} characters long")
    expect(box).to_have_value(pasted)  # kept, to be shortened, not silently emptied
    shot(page, "research-over-long")
