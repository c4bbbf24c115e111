"""The issue's headline row, launched from the dashboard's Load page in a real browser.

Starts the dashboard as the README does (``python -m dashboard.launch``) on a free port, signs in
as operator in headless Chromium, fills the Load form with the row of ``researchops load --users
10000 --duration 60 --think-time 10 --think exponential --ramp-up 20 --mix zipf:1.1:1000
--emulate-model 300`` (the form's defaults otherwise: processes one per core, the live settings),
launches it, follows the page until the burst finishes, and prints what the page's "Whole burst"
panel shows, the burst's summary beside it, and how long start-up took. Emulated model latency
is labelled as such. The search indexes are the repo's (``.data/index``), built on first use.

    .venv/bin/python bench/load_page.py [--users 10000] [--duration 60] [--shot /tmp/load.png]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ui import ARGS, PASSWORD, ROOT, free_port, sign_in, wait_health
from dashboard.auth import hash_password


def fill(page: object, name: str, value: object) -> None:
    page.get_by_role("spinbutton", name=name, exact=True).fill(str(value))  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--shot", default="", help="save a screenshot of the finished page here")
    args = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        index = os.environ.get("RESEARCHOPS_INDEX_DIR", str(ROOT / ".data" / "index"))
        env = {**os.environ, "RESEARCHOPS_DATA_DIR": tmp, "RESEARCHOPS_INDEX_DIR": index,
               "RESEARCHOPS_OPERATOR_PASSWORD_HASH": hash_password(PASSWORD)}  # fmt: skip
        for key in ("RESEARCHOPS_REDIS_URL", "REDIS_URL", "RESEARCHOPS_DATABASE_URL", "DATABASE_URL"):
            env.pop(key, None)  # the embedded defaults, as the README's first command runs them
        proc = subprocess.Popen([sys.executable, "-m", "dashboard.launch", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        try:
            wait_health(url, proc, timeout=300)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
                page.set_default_timeout(300_000)
                sign_in(page, url)
                page.get_by_test_id("stSidebarNav").get_by_text("Load", exact=True).click()
                fill(page, "Users", args.users)
                fill(page, "Ramp-up (s)", 20)
                fill(page, "Think time (s)", 10)
                fill(page, "Duration (s)", args.duration)
                page.get_by_test_id("stSelectbox").filter(has_text="Think distribution").click()
                page.get_by_role("option", name="exponential").click()
                page.get_by_text("Emulate model latency").click()
                fill(page, "Model median (ms)", 300)
                t0 = time.monotonic()
                page.get_by_role("button", name="Launch burst").click()
                tick = page.locator(".st-key-load-tick")
                tick.filter(has_text="running").wait_for()
                startup = time.monotonic() - t0
                burst_id = re.search(r"Burst `?(\S+?)`? ·", tick.inner_text()).group(1)  # type: ignore[union-attr]
                print(f"burst {burst_id}: running {startup:.1f} s after Launch (start-up: indexes, engines)")
                tick.filter(has_text="finished").wait_for(timeout=(args.duration + 240) * 1000)
                column = "xpath=ancestor::div[@data-testid='stColumn'][1]"
                panel = page.get_by_text("Whole burst").locator(column)
                panel.get_by_text("exact, from its summary").wait_for()
                shown = " | ".join(panel.inner_text().split("\n"))
                emulated = page.get_by_text("EMULATED", exact=False).first.is_visible()
                if args.shot:
                    page.screenshot(path=args.shot, full_page=True)
                browser.close()
            from core.load.bursts import BurstManager

            s = BurstManager(Path(tmp)).summary(burst_id) or {}
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(20)
    print(f"page, Whole burst panel: {shown}")
    print(f"page labels the run EMULATED: {emulated}")
    print(
        f"summary: users {s.get('users'):,} · processes {s.get('processes')} · issued {s.get('issued'):,} · "
        f"completed {s.get('completed'):,} · errors {s.get('errors')} · rejected {s.get('rejected')} · "
        f"throughput {s.get('throughput', 0):.0f}/s · p50 {s.get('p50_ms', 0):.1f} ms · "
        f"p95 {s.get('p95_ms', 0):.1f} ms · p99 {s.get('p99_ms', 0):.1f} ms · "
        f"hit rate {s.get('hit_rate', 0):.1%} · emulated {s.get('emulated')}"
    )
    ok = s.get("errors") == 0 and float(s.get("p95_ms") or 1e9) < 2000
    print(f"target p95 < 2 s, 0 errors: {'holds' if ok else 'does NOT hold here'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
