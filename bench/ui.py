"""Live-panel refresh latency with 10 browser sessions open while a burst runs.

Starts the dashboard as the README does (``python -m dashboard.launch``) on a free port with a tmp
data dir, signs in 10 Chromium sessions as operator, launches one burst from the first, opens the
burst's live Load page (1 s fragment) in all 10, and records in each browser when the fragment's
"updated HH:MM:SS.mmm" stamp changes. Prints, over all sessions:

* interval between successive updates (ideal: 1000 ms), p50/p95;
* delivery latency: browser time the stamp appeared minus the server time written in it
  (fragment run + transfer + render start), p50/p95. Target: p95 < 500 ms.

    .venv/bin/python bench/ui.py [--sessions 10] [--seconds 20] [--users 10]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dashboard.auth import hash_password  # noqa: E402

PASSWORD = "bench-ui-operator-password"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
# Records (browser epoch ms, stamp text) whenever the live panel's stamp changes.
OBSERVER = """() => {
  window.__ticks = []; let last = null;
  const read = () => { const el = document.querySelector('.st-key-load-tick');
    const m = el && el.innerText.match(/updated (\\d\\d:\\d\\d:\\d\\d\\.\\d{3})/);
    if (m && m[1] !== last) { last = m[1]; window.__ticks.push([Date.now(), m[1]]); } };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the dashboard exited during startup")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the dashboard did not start")


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_text("Operator sign-in").click()
    page.get_by_label("Operator password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("stSidebar").get_by_text("Signed in as operator").wait_for()


def stamp_ms(stamp: str, ref_ms: int) -> int:
    """Epoch ms of a local ``HH:MM:SS.mmm`` stamp on the day of ``ref_ms``."""
    day = time.localtime(ref_ms / 1000)
    h, m, rest = stamp.split(":")
    s, ms = rest.split(".")
    base = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, int(h), int(m), int(s), 0, 0, -1))
    return int(base * 1000) + int(ms)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--users", type=int, default=4, help="burst users (the UI, not the burst, is measured)")
    args = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RESEARCHOPS_DATA_DIR": tmp,
               "RESEARCHOPS_INDEX_DIR": str(ROOT / ".data" / "test-index"),
               "RESEARCHOPS_OPERATOR_PASSWORD_HASH": hash_password(PASSWORD)}  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "dashboard.launch", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        try:
            wait_health(url, proc)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                pages = []
                for _ in range(args.sessions):
                    page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
                    page.set_default_timeout(120_000)
                    sign_in(page, url)
                    pages.append(page)
                first = pages[0]
                first.get_by_test_id("stSidebarNav").get_by_text("Load", exact=True).click()
                first.get_by_role("spinbutton", name="Users", exact=True).fill(str(args.users))
                first.get_by_role("spinbutton", name="Duration (s)", exact=True).fill(
                    str(int(args.seconds + 150))
                )
                first.get_by_role("button", name="Launch burst").click()
                tick = first.locator(".st-key-load-tick")
                tick.filter(has_text="running").wait_for()
                burst_id = re.search(r"Burst (\S+)", tick.inner_text()).group(1)  # type: ignore[union-attr]
                for page in pages[1:]:  # in-app navigation keeps each session (and its sign-in)
                    page.get_by_test_id("stSidebarNav").get_by_text("Load", exact=True).click()
                    page.get_by_role("combobox", name="Open a past burst").click()
                    page.get_by_role("option", name=burst_id).click()
                for page in pages:
                    page.locator(".st-key-load-tick").filter(has_text=burst_id).wait_for()
                    page.evaluate(OBSERVER)
                if "running" not in tick.inner_text():
                    raise SystemExit("the burst ended before every session was watching it; raise --seconds")
                print(
                    f"{len(pages)} sessions on the live Load page of {burst_id}; sampling {args.seconds:g} s"
                )
                t_end = time.monotonic() + args.seconds
                while time.monotonic() < t_end:
                    first.wait_for_timeout(500)  # the browsers record on their own; this only keeps time
                intervals, delays = [], []
                for page in pages:
                    ticks = page.evaluate("window.__ticks")
                    arrivals = [a for a, _ in ticks]
                    intervals += list(np.diff(arrivals))
                    delays += [a - stamp_ms(s, a) for a, s in ticks]
                browser.close()
        finally:
            from core.load.bursts import BurstManager

            mgr = BurstManager(Path(tmp))
            for b in mgr.list():
                mgr.cancel(b["id"], grace_s=5)
            os.killpg(proc.pid, 15)
            proc.wait(20)
    if not intervals:
        print("no fragment updates were recorded")
        return 1
    iv, dl = np.array(intervals), np.array(delays)
    print(f"updates recorded: {len(dl)} over {len(pages)} sessions")
    print(
        f"interval between updates (ideal 1000 ms): p50 {np.percentile(iv, 50):.0f} ms, "
        f"p95 {np.percentile(iv, 95):.0f} ms"
    )
    print(
        f"delivery latency (server stamp -> browser): p50 {np.percentile(dl, 50):.0f} ms, "
        f"p95 {np.percentile(dl, 95):.0f} ms  (target p95 < 500 ms)"
    )
    late = iv - 1000
    print(
        f"lateness vs the 1 s schedule: p50 {np.percentile(late, 50):.0f} ms, "
        f"p95 {np.percentile(late, 95):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
