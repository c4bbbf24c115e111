"""Metrics (operator): latency percentiles, cache hit rates, memory, where the time goes, failures.

The live panel is a fragment that re-reads a metrics snapshot every 2 s; it never starts work.
"""

from __future__ import annotations

import streamlit as st

from dashboard import charts, present, services

st.title("Metrics")
c = st.columns([1, 1, 2])
range_s = c[0].selectbox(
    "Window",
    [60, 300, 900, 3600],
    index=1,
    format_func=lambda s: f"last {s // 60 or 1} min" if s >= 60 else f"{s}s",
    key="metrics_range",
)
quantile = c[1].selectbox(
    "Node quantile", [0.5, 0.95, 0.99], index=1, format_func=lambda q: f"p{round(q * 100)}", key="metrics_q"
)


@st.fragment(run_every=2)
def live() -> None:
    r = services.metrics_view(range_s)
    marks = services.change_marks()
    snap = r.snapshot
    with st.container(key="metrics-tick"):
        badge = ":green-badge[Prometheus]" if r.origin == "prometheus" else ":blue-badge[In-process metrics]"
        st.markdown(f"{badge} {r.status.message or ''} · updated {services.clock()}")
    k = st.columns(6)
    k[0].metric("Runs ok", int(r.counts.runs.get("ok", 0)))
    k[1].metric("Errors", int(r.counts.runs.get("error", 0)))
    k[2].metric("Rejected", int(r.counts.rejected))
    k[3].metric("Active", int(r.counts.active))
    k[4].metric("Queued", int(r.counts.queue_depth))
    k[5].metric("Settings", f"v{snap.settings_version or services.current_settings().version}")

    wf = {f"p{round(q * 100)}": ts.series.get("all", []) for q, ts in r.workflow_latency.items()}
    a, b = st.columns(2)
    a.plotly_chart(charts.ts_lines(wf, "Workflow latency", "ms", marks, 1000.0), key="m_wf")
    b.plotly_chart(
        charts.ts_lines(
            r.node_latency[quantile].series, f"Per-node p{round(quantile * 100)} latency", "ms", marks, 1000.0
        ),
        key="m_nodes",
    )
    a, b = st.columns(2)
    a.plotly_chart(
        charts.ts_lines(r.cache_hit_rate.series, "Cache hit rate by level", "%", marks, 100.0), key="m_hits"
    )
    b.plotly_chart(charts.hit_rate_bars(snap.cache_hit_rate), key="m_hit_nodes")
    a, b = st.columns(2)
    a.plotly_chart(charts.ts_lines(r.memory.series, "Resident memory", "MiB", marks, 1 / 2**20), key="m_mem")
    b.plotly_chart(charts.ts_lines(r.throughput.series, "Throughput", "runs/s", marks), key="m_tput")

    st.subheader("Where the time goes")
    a, b = st.columns(2)
    a.plotly_chart(
        charts.phase_bars(present.phase_rows(snap), "Share of time by phase, per settings version"),
        key="m_phases",
    )
    b.plotly_chart(
        charts.count_bars(present.node_time(snap), "Time in each node (recent window)", "s"),
        key="m_node_time",
    )
    st.dataframe(present.node_latency_rows(snap), hide_index=True, key="m_node_table")
    a, b = st.columns(2)
    a.plotly_chart(charts.count_bars(snap.validation_errors, "Validation errors (model.field)"), key="m_val")
    b.plotly_chart(charts.count_bars(snap.source_failures, "Source failures"), key="m_src")
    a.plotly_chart(charts.ts_lines(r.error_rate.series, "Error rate", "%", marks, 100.0), key="m_err")


live()
