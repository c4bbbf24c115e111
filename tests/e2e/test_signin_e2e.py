"""Sign-in that holds, in a real browser: an operator stays signed in across a reload and in a new
tab until sign-out; five wrong passwords lock the client out, and a reload does not reset that."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import PASSWORD, idle, shot

pytestmark = pytest.mark.e2e


def signed_in_as(page: Page, role: str) -> None:
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {role}")).to_be_visible()
    idle(page)


def try_password(page: Page, password: str) -> None:
    form = page.get_by_test_id("stForm").filter(has=page.get_by_label("Operator password", exact=True))
    if not page.get_by_label("Operator password", exact=True).is_visible():
        page.get_by_text("Operator sign-in").click()
    page.get_by_label("Operator password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()
    idle(page)


def test_sign_in_survives_a_reload_and_a_new_tab_until_sign_out(page: Page, server: str) -> None:
    page.goto(server)
    signed_in_as(page, "researcher")
    try_password(page, PASSWORD)
    signed_in_as(page, "operator")
    page.wait_for_function("document.cookie.includes('researchops_session=')")  # set by the sign-in
    page.reload()
    signed_in_as(page, "operator")
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Operations", exact=True)).to_be_visible()
    tab = page.context.new_page()
    tab.goto(f"{server}/operations")
    expect(tab.get_by_role("heading", name="Operations", exact=True)).to_be_visible()
    signed_in_as(tab, "operator")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    signed_in_as(page, "researcher")
    page.wait_for_function("!document.cookie.includes('researchops_session=')")  # dropped by sign-out
    page.reload()
    signed_in_as(page, "researcher")  # the session ended on the server, not just in this tab
    tab.reload()
    signed_in_as(tab, "researcher")
    expect(tab.get_by_text("Page not found")).to_be_visible()
    shot(tab, "signed-out-tab")


def test_a_lockout_survives_a_reload(browser: Browser, server: str) -> None:
    # Its own user agent: a lockout holds per account and client, so this one locks only itself.
    ctx = browser.new_context(viewport={"width": 1400, "height": 1200}, user_agent="e2e-lockout-client/1.0")
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(server)
        signed_in_as(page, "researcher")
        for _ in range(5):
            try_password(page, "not-the-password")
        error = page.get_by_test_id("stSidebar").get_by_test_id("stAlertContentError")
        expect(error).to_contain_text("Too many wrong passwords")
        page.reload()
        signed_in_as(page, "researcher")
        page.get_by_text("Operator sign-in").click()
        expect(error).to_contain_text("Too many wrong passwords")  # shown again after the reload
        try_password(page, PASSWORD)  # even the right password waits until the lockout ends
        expect(error).to_contain_text("Too many wrong passwords")
        signed_in_as(page, "researcher")
        shot(page, "lockout-after-reload")
    finally:
        ctx.close()
