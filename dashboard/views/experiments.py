"""Experiments (operator): compare configurations on one workload, before/after, and download the report.

The experiment runs in its own process (``core.load``); this page starts it, follows its timeline
and reads its summary.
"""

from __future__ import annotations

import time

import streamlit as st

from core.errors import InvalidInput
from dashboard import charts, jobs, services, tables

st.title("Experiments")
if not jobs.experiments_available():
    st.warning(
        "The experiment runner (core.load.experiment) is not available in this build, so "
        "before/after experiments cannot run here.",
        icon=":material/construction:",
    )
    st.stop()

for field, message in st.session_state.pop("exp_errors", {}).items():
    st.error(f"**{field}**: {message}")

with st.form("experiment"):
    st.markdown(
        "**Configurations** — the first is the baseline. A preset, optionally with `+key=value` "
        "changes, e.g. `optimized+cache=off`."
    )
    cfg_text = st.text_area("One configuration per line", "naive\noptimized", key="x_configs", height=100)
    c = st.columns(4)
    users = c[0].number_input("Users", 1, 500, 8, key="x_users")
    duration = c[1].number_input("Seconds per configuration", 1, 600, 10, key="x_duration")
    rounds = c[2].number_input("Rounds (interleaved)", 1, 10, 2, key="x_rounds")
    think = c[3].number_input("Think time (s)", 0.0, 10.0, 0.0, 0.1, key="x_think")
    mix = c[0].radio("Mix", ["zipf", "uniform"], horizontal=True, key="x_mix")
    zipf_s = c[1].number_input("Zipf exponent", 0.1, 3.0, 1.1, 0.1, key="x_zipf")
    pool = c[2].number_input("Distinct questions", 10, 5000, 200, key="x_pool")
    purge = c[3].toggle("Cold cache for each turn", True, key="x_purge")
    if st.form_submit_button("Run experiment", type="primary"):
        configs = [line.strip() for line in cfg_text.splitlines() if line.strip()]
        try:
            st.session_state["experiment_id"] = jobs.start_experiment(
                configs,
                users=int(users),
                duration_s=float(duration),
                think_time_s=float(think),
                mix=mix,
                zipf_s=float(zipf_s),
                pool=int(pool),
                rounds=int(rounds),
                purge_cache=purge,
            )
        except InvalidInput as exc:
            st.session_state["exp_errors"] = {e["field"]: e["message"] for e in exc.errors}
        st.rerun()


@st.fragment(run_every=1)
def progress(exp_id: str) -> None:
    status = jobs.burst_view(exp_id)
    rows = jobs.burst_timeline(exp_id)
    with st.container(key="exp-tick"):
        st.markdown(
            f"Experiment `{exp_id}` · **{status['state']}** · {len(rows)} s run · "
            f"updated {time.strftime('%H:%M:%S')}"
        )
    if status.get("error"):
        st.error(status["error"])
    if not status["finished"]:
        if st.button("Cancel experiment", key="x_cancel"):
            jobs.cancel_burst(exp_id)
        if rows:
            st.plotly_chart(
                charts.timeline_lines(rows, ["throughput", "p95_ms"], "Live: throughput and p95 (ms)", ""),
                key="x_live",
            )
        return
    summary = status.get("summary")
    if summary:
        st.session_state["experiment_done"] = exp_id
        st.rerun(scope="app")


exp_id = st.session_state.get("experiment_id")
if exp_id and st.session_state.get("experiment_done") != exp_id:
    progress(exp_id)
elif exp_id:
    status = jobs.burst_view(exp_id)
    summary = status.get("summary") or {}
    st.subheader(f"Results — baseline **{summary.get('baseline', '?')}**")
    if summary.get("emulated"):
        st.info(
            "Latency in this experiment was partly EMULATED (labelled in the report).",
            icon=":material/science:",
        )
    if summary.get("per_config"):
        tables_ = jobs.experiment_rows(summary)
        small = {c: tables.text(c, "small") for c in ("errors", "hit rate", "peak RSS MB", "completed")}
        tables.show(
            tables.frame(tables_["summary"]), "x_summary", {"config": tables.text("config", "small"), **small}
        )
        st.markdown("**Ratios vs the baseline** (> 1 = better)")
        tables.show(tables.frame(tables_["ratios"]), "x_ratios", {"config": tables.text("config")})
        figs = jobs.experiment_figures(exp_id, summary)
        a, b = st.columns(2)
        for i, (name, fig) in enumerate(figs.items()):
            (a if i % 2 == 0 else b).plotly_chart(fig, key=f"x_fig_{name}")
        st.markdown("**Answer equivalence** (same question, same findings and summary?)")
        eq = summary.get("equivalence", {})
        tables.show(
            tables.frame(
                [{"config": k, **{f: v for f, v in e.items() if f != "differences"}} for k, e in eq.items()]
            ),
            "x_equiv",
        )
        with st.expander("Per-node and per-phase times"):
            tables.show(tables.frame(tables_["nodes"]), "x_nodes", {"node": tables.text("node")})
            tables.show(tables.frame(tables_["phases"]), "x_phases", {"phase": tables.text("phase")})
        st.markdown("**Report**")
        packed = services.experiment_archive(exp_id, summary)
        if packed is not None:
            st.download_button(
                "Download report + charts (.zip)",
                packed[1],
                file_name=packed[0],
                mime="application/zip",
                key="x_dl_zip",
                type="primary",
                icon=":material/folder_zip:",
                on_click="ignore",
                help="report.md, report.html, report.json and the PNG charts they show, in one folder",
            )
        cols = st.columns(3)
        for col, (name, data, mime) in zip(cols, jobs.report_files(summary), strict=False):
            col.download_button(
                f"Download {name}", data, file_name=name, mime=mime, key=f"x_dl_{name}", on_click="ignore"
            )
    else:
        st.warning(f"The experiment ended ({status['state']}) without results.")

st.subheader("Past experiments")
past = jobs.past_bursts("experiment")
if past:
    tables.show(
        tables.frame(past),
        "x_past",
        {"id": tables.text("id"), "label": tables.text("label"), "error": tables.text("error", "large")},
    )
    pick = st.selectbox("Open", ["–", *[p["id"] for p in past]], key="x_pick")
    if pick not in ("–", exp_id):
        st.session_state["experiment_id"] = pick
        st.session_state["experiment_done"] = None
        st.rerun()
else:
    st.caption("No experiments yet.")
