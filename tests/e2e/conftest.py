"""A real dashboard server, started the way the README starts it, and a real Chromium (Debian's)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dashboard.auth import hash_password
from tests.conftest import SHARED_INDEX
from tests.e2e.helpers import PASSWORD, ROOT, shot
from tests.support.ports import free_port

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m dashboard.launch --port N`` with a tmp data dir and an operator password hash."""
    port = free_port()
    env = {
        **os.environ,
        "RESEARCHOPS_DATA_DIR": str(tmp_path_factory.mktemp("e2e-data")),
        "RESEARCHOPS_INDEX_DIR": str(SHARED_INDEX),
        "RESEARCHOPS_OPERATOR_PASSWORD_HASH": hash_password(PASSWORD),
        "RESEARCHOPS_METRICS_PORT": str(free_port()),  # not 9464: other test servers may hold it
    }
    log = open(tmp_path_factory.mktemp("e2e-log") / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.launch", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError(f"dashboard did not start; see {log.name}")
        time.sleep(0.2)  # polling a condition with a deadline, not a fixed wait
    try:
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call":
        item.stash[FAILED] = rep.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: object, server: str, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser session; tall, since Streamlit scrolls inside and screenshots show the viewport."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200})  # type: ignore[attr-defined]
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    if request.node.stash.get(FAILED, False):
        shot(pg, f"FAILED-{request.node.name}")
    ctx.close()
