"""Experiments in a real browser: run a small experiment and download one archive holding the
report (Markdown, HTML, JSON) and every chart image the report shows."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, idle, shot

pytestmark = pytest.mark.e2e


def test_the_experiment_archive_holds_the_report_and_its_images(
    page: Page, server: str, tmp_path: Path
) -> None:
    page.goto(server)
    idle(page)
    page.get_by_text("Operator sign-in").click()
    page.get_by_label("Operator password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as operator")).to_be_visible()
    idle(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Experiments", exact=True).click()
    expect(page.get_by_role("heading", name="Experiments", exact=True)).to_be_visible()
    idle(page)
    for label, value in [("Users", "2"), ("Seconds per configuration", "2"), ("Rounds (interleaved)", "1"),
                         ("Distinct questions", "20")]:  # fmt: skip
        page.get_by_role("spinbutton", name=label, exact=True).fill(value)
    page.get_by_role("button", name="Run experiment").click()
    button = page.get_by_role("button", name=re.compile(r"Download report \+ charts"))
    expect(button).to_be_visible(timeout=180_000)
    idle(page)
    shot(page, "experiments-results")
    with page.expect_download() as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".zip"
    with zipfile.ZipFile(path) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        md = zf.read(next(n for n in zf.namelist() if n.endswith("/report.md"))).decode()
    assert {"report.md", "report.html", "report.json"} <= names, names
    images = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md))
    assert images and images <= names, (images, names)
