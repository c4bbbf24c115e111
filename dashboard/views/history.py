"""History: past runs, searchable by text and status, and one run's events and timings."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, services, sourcemd

st.title("History")
c = st.columns([3, 1])
text = c[0].text_input("Search questions", key="hist_text", placeholder="e.g. coroutine")
status = c[1].selectbox("Status", ["any", *services.RUN_STATUSES], key="hist_status")
rows = services.history(text, None if status == "any" else status)
origin = rows[0]["origin"] if rows else ""
st.caption(
    f"{len(rows)} run{'' if len(rows) == 1 else 's'}"
    + (" from the run store" if origin == "store" else " from this process's memory" if origin else "")
)
if not rows:
    st.info("No runs match. Ask a question on the Research page first.")
else:
    table = [
        {
            k: r.get(k)
            for k in ("run_id", "created_at", "status", "question", "duration_s", "settings_version")
        }
        for r in rows
    ]
    picked = st.dataframe(
        table, hide_index=True, on_select="rerun", selection_mode="single-row", key="hist_table"
    )
    selected = picked.selection.rows if picked is not None else []
    run_id = (
        rows[selected[0]]["run_id"]
        if selected
        else st.selectbox(
            "Run",
            [r["run_id"] for r in rows],
            key="hist_run",
            format_func=lambda rid: next(f"{rid} · {r['question'][:70]}" for r in rows if r["run_id"] == rid),
        )
    )
    detail = services.run_detail(run_id)
    st.subheader(f"Run {run_id}")
    rec = detail["record"]
    if rec is not None and rec.result is not None:
        st.markdown(sourcemd.linked_summary(rec.result.summary, len(rec.result.findings)))
        st.plotly_chart(charts.waterfall(rec.result.timings), key="hist_waterfall")
    elif rec is not None and rec.error:
        st.error(rec.error)
    if detail["events"]:
        st.markdown(f"**Events** ({len(detail['events'])})")
        st.dataframe(
            [
                {
                    "seq": e["seq"],
                    "type": e["type"],
                    "at": e["at"],
                    "node": e["data"].get("node"),
                    "duration_ms": None
                    if e["data"].get("duration_s") is None
                    else round(e["data"]["duration_s"] * 1000, 2),
                    "cache_hit": e["data"].get("cache_hit"),
                }
                for e in detail["events"]
            ],
            hide_index=True,
            key="hist_events",
        )
    elif rec is None:
        st.info("This run's details are no longer in memory and the run store has no events for it.")
