"""Load (operator): launch a burst in separate processes, watch its timeline live, compare bursts.

The live panel is a 1 s fragment that only reads what the burst processes write (shared by every
session: the timeline is read once per new line, the figure built once per new second).
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from core.errors import InvalidInput
from dashboard import frames, jobs, present, services, tables

st.title("Load")
if jobs.burst_manager() is None:
    st.warning(jobs.LOAD_UNAVAILABLE, icon=":material/construction:")
    st.stop()

for field, message in st.session_state.pop("load_errors", {}).items():
    st.error(f"**{field}**: {message}")

TARGETS = {
    "engine": "Engine in the burst processes",
    "workers": "Worker pool (task queue)",
    "http": "HTTP API (Locust)",
}
targets = jobs.target_choices()

with st.form("burst"):
    st.markdown("**Where the load goes**")
    c: Any = st.columns([2, 1, 2])
    target = c[0].radio(
        "Target", targets, format_func=lambda t: TARGETS.get(t, t), horizontal=True, key="b_target",
        help="engine: each burst process runs its own engine · workers: runs go through the queue "
        "to the worker pool · http: Locust users call the API",
    )  # fmt: skip
    processes = c[1].number_input(
        "Processes", 0, 64, 0, key="b_processes", disabled=not jobs.supports_processes(),
        help="burst processes sharing the users (0 = one per core)"
        + ("" if jobs.supports_processes() else " · this build runs one burst process"),
    )  # fmt: skip
    http_url = c[2].text_input(
        "API URL (http target)", "", key="b_http_url", placeholder="http://127.0.0.1:8000"
    )

    st.markdown("**Load shape**")
    mode = st.radio(
        "Mode", ["closed", "open"], horizontal=True, key="b_mode",
        format_func=lambda m: {"closed": "Closed loop: N users who wait for answers",
                               "open": "Open loop: arrivals at a rate, whatever the answers"}[m],
    )  # fmt: skip
    c = st.columns(4)
    users = c[0].number_input(
        "Users",
        1,
        jobs.MAX_USERS,
        10,
        key="b_users",
        help=f"closed loop: concurrent users (max {jobs.MAX_USERS:,})",
    )
    ramp = c[1].number_input(
        "Ramp-up (s)", 0.0, 600.0, 0.0, 1.0, key="b_ramp", help="users start evenly over this"
    )
    think = c[2].number_input(
        "Think time (s)", 0.0, 60.0, 0.0, 0.1, key="b_think", help="pause between a user's questions (mean)"
    )
    think_dist = c[3].selectbox("Think distribution", ["constant", "exponential"], key="b_think_dist")
    c = st.columns(4)
    rate = c[0].number_input(
        "Rate (/s)", 0.1, 20_000.0, 10.0, 1.0, key="b_rate", help="open loop: arrivals per second"
    )
    steps = c[1].text_input(
        "Rate steps", "", key="b_steps", placeholder="0:50,10:500",
        help="open loop: AT_S:RATE pairs, e.g. 50/s then 500/s from 10 s (overrides Rate)",
    )  # fmt: skip
    arrivals = c[2].selectbox("Arrivals", ["poisson", "uniform"], key="b_arrivals", help="open loop spacing")
    duration = c[3].number_input("Duration (s)", 1, 3600, 20, key="b_duration")

    st.markdown("**Workload and settings**")
    c = st.columns(4)
    mix = c[0].radio(
        "Question mix", ["zipf", "uniform"], horizontal=True, key="b_mix",
        help="zipf: a few popular questions come up often (cache-friendly)",
    )  # fmt: skip
    zipf_s = c[1].number_input("Zipf exponent", 0.1, 3.0, 1.1, 0.1, key="b_zipf")
    preset = c[2].selectbox("Preset", ["current settings", "optimized", "naive"], key="b_preset")
    label = c[3].text_input("Label", "", key="b_label", max_chars=200)
    c = st.columns([1, 1, 2])
    emulate = c[0].checkbox(
        "Emulate model latency", key="b_emulate",
        help="EMULATED: each model call sleeps a log-normal delay, as a hosted model would take",
    )  # fmt: skip
    model_ms = c[1].number_input("Model median (ms)", 1.0, 10_000.0, 250.0, 10.0, key="b_model_ms")
    c[2].caption("Emulated latency is labelled **EMULATED** on this page, in results and in reports.")
    if st.form_submit_button("Launch burst", type="primary"):
        spec = {
            "users": int(users),
            "duration_s": float(duration),
            "think_time_s": float(think),
            "think": think_dist,
            "ramp_up_s": float(ramp),
            "mode": mode,
            "rate": float(rate),
            "rate_steps": steps,
            "arrivals": arrivals,
            "mix": mix,
            "zipf_s": float(zipf_s),
            "preset": None if preset == "current settings" else preset,
            "target": target,
            "http_url": http_url.strip() or None,
            "processes": int(processes) or None,
            "model_ms": float(model_ms) if emulate else None,
            "label": label,
        }
        try:
            st.session_state["burst_id"] = jobs.start_burst(**spec)
        except InvalidInput as exc:
            st.session_state["load_errors"] = {e["field"]: e["message"] for e in exc.errors}
        st.rerun()


def _fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}{unit}"


def _starting(status: dict) -> None:
    info = jobs.startup_progress(status)
    typical = info["typical_s"]
    elapsed = info["elapsed_s"]
    what = info["detail"] or (
        "loading the search indexes and building the engine"
        if (status.get("spec") or {}).get("target", "engine") == "engine"
        else "starting the load generator"
    )
    facts = " · ".join(
        f for f in (
            f"CPU {info['cpu_s']:.1f} s" if "cpu_s" in info else "",
            f"memory {info['rss_mb']:.0f} MiB" if "rss_mb" in info else "",
            f"{info['processes']} processes" if info.get("processes", 1) > 1 else "",
        ) if f
    )  # fmt: skip
    guide = f"usually ~{typical:.0f} s (last burst)" if typical else "the first burst takes longest"
    st.progress(
        min(elapsed / typical, 0.99) if typical else min(elapsed / 20, 0.95),
        text=f"Starting: {what}… {elapsed:.0f} s ({guide}){' · ' + facts if facts else ''}",
    )


@st.fragment(run_every=1)
def live(burst_id: str) -> None:
    t0 = time.perf_counter()
    status = jobs.burst_view(burst_id)
    rows = jobs.burst_timeline(burst_id)
    with st.container(key="load-tick"):
        st.markdown(
            f"Burst `{burst_id}` · **{status['state']}** · {len(rows)} s of timeline · "
            f"updated {services.clock()}"
        )
    if status["state"] == "starting":
        _starting(status)
    spec = status.get("spec") or {}
    if status.get("emulated"):
        ms = (spec.get("model_latency") or {}).get("median_ms")
        st.info(
            "**EMULATED** latency: model calls sleep a log-normal delay"
            + (f" (median {ms:g} ms)" if ms else "")
            + "; the figures below include it.",
            icon=":material/science:",
        )
    if status.get("error"):
        st.error(status["error"])
    if not status["finished"] and st.button("Cancel burst", key="b_cancel"):
        jobs.cancel_burst(burst_id)
    summary = status.get("summary") if status["finished"] else None
    head = frames.burst_headline(rows, summary)
    whole, last = head["whole"], head["last"]
    now_col, whole_col = st.columns([3, 4], border=True)
    now_col.markdown("**Last second** · the charts' last point")
    k: Any = now_col.columns(3)
    k[0].metric("Throughput", _fmt(last.get("throughput"), "/s"))
    k[1].metric("p95", present.latency(last.get("p95_ms")))
    k[2].metric("In flight", f"{head['in_flight']:,}")
    whole_col.markdown(
        f"**Whole burst** · all {whole['seconds']:.0f} s"
        + (" (exact, from its summary)" if whole["exact"] else " so far")
    )
    k = whole_col.columns(4)
    k[0].metric("Throughput", _fmt(whole["throughput"], "/s"), help="completed runs / seconds (dashed line)")
    k[1].metric(
        "p95", present.latency(whole["p95_ms"]), help="exact, over every run of the burst: known once it ends"
    )
    k[2].metric("Completed", f"{whole['completed']:,}")
    k[3].metric("Errors · rejected", f"{whole['errors']:,} · {whole['rejected']:,}")
    st.caption(
        "The final, cut-off second counts in the totals but is not drawn (it would read as a drop)."
        + (
            f" {whole['coalesced']:,} runs joined an identical run in flight (coalesced)."
            if whole["coalesced"]
            else ""
        )
    )
    marks = jobs.burst_marks(status)
    fig = jobs.burst_figure(burst_id, rows, marks, summary)
    # static while live: no hover layers to build on every redraw; interactive once it ended
    st.plotly_chart(fig, key="l_burst", config={"displaylogo": False, "staticPlot": not status["finished"]})
    if marks:
        st.caption(f"Settings changes (dotted lines): {jobs.marks_strip(marks)}")
    elif not status["finished"] and rows:
        st.caption(f"Live chart: the last {jobs.LIVE_WINDOW_S} s, redrawn every {jobs.LIVE_STEP_S} s.")
    if summary:
        st.markdown("**Summary**")
        df = frames.summary_frame([(burst_id, {**summary, "processes": spec.get("processes")})])
        tables.show(df, "b_summary", SUMMARY_COLUMNS, file_name=f"burst-{burst_id}-summary.csv")
        with st.expander("Timeline (one row per second)"):
            tables.show(frames.timeline_frame(rows), "b_timeline", file_name=f"burst-{burst_id}-timeline.csv")
    listed = st.session_state.get("b_listed_state")
    if listed is not None and listed[0] == burst_id and listed[1] not in (None, status["state"]):
        # the state moved on: one full run, so the past-bursts table below shows it. Recorded first:
        # this fragment also runs at the top of that full run, before the table records it
        st.session_state["b_listed_state"] = (burst_id, status["state"])
        st.rerun()
    with st.container(key="load-server-ms"):
        st.caption(f"panel built in {(time.perf_counter() - t0) * 1000:.0f} ms on the server")


SUMMARY_COLUMNS = {
    "Throughput (runs/s)": tables.num("Throughput (runs/s)", "%.1f"),
    "p50 (ms)": tables.ms("p50 (ms)", "%.0f ms"),
    "p95 (ms)": tables.ms("p95 (ms)", "%.0f ms"),
    "p99 (ms)": tables.ms("p99 (ms)", "%.0f ms"),
    "Mean (ms)": tables.ms("Mean (ms)", "%.0f ms"),
    "Hit rate": tables.rate("Hit rate", "runs answered with at least one cache hit"),
    "Whole-result hits": tables.rate("Whole-result hits", "runs answered whole from the result cache"),
    "Error rate": tables.rate("Error rate"),
    "Peak memory (MiB)": tables.num("Peak memory (MiB)", "%.0f MiB"),
    "Elapsed (s)": tables.num("Elapsed (s)", "%.1f s"),
}
PAST_COLUMNS = {
    "launched": tables.when("launched"),
    "ran (s)": tables.num("ran (s)", "%.1f s"),
    "throughput": tables.num("throughput", "%.1f /s"),
    "p95_ms": tables.ms("p95"),
    "hit_rate": tables.rate("hit rate"),
    "error": tables.text("error", "large"),
}

# ?burst=<id> opens a burst directly (a link another operator can follow)
burst_id = st.session_state.get("burst_id") or st.query_params.get("burst")
if burst_id:
    live(burst_id)

st.subheader("Past bursts")
past = jobs.bursts_listing()
if burst_id:  # the state this run lists for the open burst; the live panel reruns when it changes
    st.session_state["b_listed_state"] = (
        burst_id,
        next((p["state"] for p in past if p["id"] == burst_id), None),
    )
if past:
    df = frames.bursts_frame(past)
    tables.show(df, "b_past", PAST_COLUMNS, file_name="bursts.csv")
    ids = [p["id"] for p in past if p.get("kind", "burst") == "burst"]
    cols: Any = st.columns(2)
    pick = cols[0].selectbox("Open a past burst", ["–", *ids], key="b_pick")
    if pick != "–" and pick != burst_id:
        st.session_state["burst_id"] = pick
        st.rerun()
    compare = cols[1].multiselect(
        "Overlay bursts (aligned on seconds since start)", ids, max_selections=4, key="b_compare"
    )
    if len(compare) >= 2:
        st.plotly_chart(jobs.overlay_figure(tuple(compare)), key="b_overlay", config={"displaylogo": False})
        views = [(b, jobs.burst_view(b)) for b in compare]
        tables.show(
            frames.summary_frame([(b, v.get("summary") or {"state": v["state"]}) for b, v in views]),
            "b_compare_summary", SUMMARY_COLUMNS, file_name="bursts-compared.csv",
        )  # fmt: skip
else:
    st.caption("No bursts yet.")
