"""Live-panel refresh latency with operator browsers open on Load while a burst runs.

Starts the dashboard as the README does (``python -m dashboard.launch``) on a free port with a tmp
data dir, signs in N Chromium sessions as operator, launches one burst from the first (10,000
users by default), opens the burst's live Load page (1 s fragment) in all of them, and records in
each browser when the fragment's "updated HH:MM:SS.mmm" stamp changes. Prints, over all sessions:

* interval between successive updates (ideal: 1000 ms), p50/p95. Target: p95 < 1.5 s;
* delivery latency: browser time the stamp appeared minus the server time written in it
  (fragment run + transfer + render start), p50/p95. Target: p95 < 500 ms;
* where the time goes, per refresh: **server** = the fragment function's own time (the panel
  prints it: "panel built in N ms on the server"); **transfer** = first websocket message of the
  refresh minus the server stamp; **browser** = the chart's last DOM mutation in that refresh
  minus the refresh's first websocket message (Streamlit's React render + Plotly's redraw).

    .venv/bin/python bench/ui.py [--sessions 3] [--seconds 20] [--users 10000]
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
# Before any page script: stamp every websocket message's arrival (browser epoch ms).
WS_HOOK = """() => {
  window.__ws = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', () => window.__ws.push(Date.now()));
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
}"""
# Records (browser epoch ms, stamp) when the live panel's stamp changes, (ms, server ms) when its
# "panel built in" caption changes, and the time of every DOM mutation inside a Plotly chart.
OBSERVER = """() => {
  window.__ticks = []; window.__server = []; window.__plot = []; let last = null, lastS = null;
  let chart = null;
  const plotSeen = () => window.__plot.push(Date.now());
  const read = () => {
    const now = Date.now();
    const el = document.querySelector('.st-key-load-tick');
    const m = el && el.innerText.match(/updated (\\d\\d:\\d\\d:\\d\\d\\.\\d{3})/);
    if (m && m[1] !== last) { last = m[1]; window.__ticks.push([now, m[1]]); }
    const sv = document.querySelector('.st-key-load-server-ms');
    const s = sv && sv.innerText.match(/built in (\\d+) ms/);
    if (s && sv.innerText !== lastS) { lastS = sv.innerText; window.__server.push([now, parseInt(s[1])]); }
    const c = document.querySelector('[data-testid="stPlotlyChart"]');
    if (c && c !== chart) {  // a new chart element (Streamlit remounts a changed figure)
      chart = c; plotSeen();
      new MutationObserver(plotSeen).observe(c, {subtree: true, childList: true});
    }
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _cpu(cdp: object) -> dict[str, float]:
    """Chromium's cumulative main-thread durations (seconds) for one page (CDP Performance)."""
    got = cdp.send("Performance.getMetrics")["metrics"]  # type: ignore[attr-defined]
    keep = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
    return {m["name"]: float(m["value"]) for m in got if m["name"] in keep}


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
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--users", type=int, default=10_000, help="burst users (the load the UI must keep up with)"
    )
    ap.add_argument("--think", type=float, default=1.0, help="burst users' think time (s)")
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
                    page.add_init_script(f"({WS_HOOK})()")
                    page.set_default_timeout(120_000)
                    sign_in(page, url)
                    pages.append(page)
                first = pages[0]
                first.get_by_test_id("stSidebarNav").get_by_text("Load", exact=True).click()
                first.get_by_role("spinbutton", name="Users", exact=True).fill(str(args.users))
                first.get_by_role("spinbutton", name="Think time (s)", exact=True).fill(str(args.think))
                first.get_by_role("spinbutton", name="Duration (s)", exact=True).fill(
                    str(int(args.seconds + 150))
                )
                first.get_by_role("button", name="Launch burst").click()
                tick = first.locator(".st-key-load-tick")
                tick.filter(has_text="running").wait_for()
                burst_id = re.search(r"Burst (\S+)", tick.inner_text()).group(1)  # type: ignore[union-attr]
                for page in pages[1:]:  # in-app navigation keeps each session (and its sign-in)
                    page.get_by_test_id("stSidebarNav").get_by_text("Load", exact=True).click()
                    box = page.get_by_role("combobox", name="Open a past burst")
                    box.click()
                    box.fill(burst_id)  # filter the options, then take the match
                    page.keyboard.press("Enter")
                cdps = []
                for page in pages:
                    page.locator(".st-key-load-tick").filter(has_text=burst_id).wait_for()
                    page.evaluate(OBSERVER)
                    cdp = page.context.new_cdp_session(page)
                    cdp.send("Performance.enable")
                    cdps.append((cdp, _cpu(cdp)))
                if "running" not in tick.inner_text():
                    raise SystemExit("the burst ended before every session was watching it; raise --seconds")
                print(
                    f"{len(pages)} sessions on the live Load page of {burst_id}; sampling {args.seconds:g} s"
                )
                t_end = time.monotonic() + args.seconds
                while time.monotonic() < t_end:
                    first.wait_for_timeout(500)  # the browsers record on their own; this only keeps time
                # renderer main-thread busy time per second of sampling (CPU cost, less load-sensitive)
                busy = [{k: (v - c0[k]) / args.seconds * 1000 for k, v in _cpu(c).items()} for c, c0 in cdps]
                intervals, delays, server, transfer, render = [], [], [], [], []
                for page in pages:
                    ticks = page.evaluate("window.__ticks")
                    ws, plot = page.evaluate("window.__ws"), page.evaluate("window.__plot")
                    server += [ms for _, ms in page.evaluate("window.__server")]
                    arrivals = [a for a, _ in ticks]
                    intervals += list(np.diff(arrivals))
                    delays += [a - stamp_ms(s, a) for a, s in ticks]
                    for (a, s), nxt in zip(ticks, [*arrivals[1:], None], strict=True):
                        sent = stamp_ms(s, a)
                        first_msg = next((w for w in ws if w >= sent - 50), None)
                        if first_msg is None or nxt is None:
                            continue
                        transfer.append(first_msg - sent)
                        drawn = [t for t in plot if first_msg <= t < nxt]
                        if drawn:
                            render.append(drawn[-1] - first_msg)
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
    parts = (
        ("server (fragment function)", server),
        ("transfer (stamp -> first ws message)", transfer),
        ("browser (first ws message -> chart drawn)", render),
    )
    for name, xs in parts:
        if xs:
            print(
                f"{name}: p50 {np.percentile(xs, 50):.0f} ms, "
                f"p95 {np.percentile(xs, 95):.0f} ms (n={len(xs)})"
            )
    for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"):
        vals = [b[k] for b in busy]
        print(f"browser main thread {k}: {np.mean(vals):.0f} ms per second per session")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
