"""Metrics (operator): every process of the deployment — latency, cache hit rates, memory, runs.

Origin, best first: Prometheus (``PROMETHEUS_URL``), else every local process's metrics file merged
(the dashboard, burst and experiment processes, API, workers sharing this data dir), else this
process alone. The live panel is a 1 s fragment over one reading per second shared by every session.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from dashboard import charts, frames, jobs, panels, present, services, tables

st.title("Metrics")
c: Any = st.columns([1, 1, 2])
range_s = c[0].selectbox(
    "Window",
    [60, 300, 900, 3600],
    index=1,
    format_func=lambda s: f"last {s // 60 or 1} min" if s >= 60 else f"{s}s",
    key="metrics_range",
)
paused = c[2].toggle(
    "Pause charts", key="metrics_pause", help="freeze the charts to hover and zoom; the counts stay live"
)
ORIGINS = {
    "prometheus": ":green-badge[Prometheus]",
    "processes": ":blue-badge[In-process metrics: every local process]",
    "process": ":gray-badge[In-process metrics: this dashboard only]",
}
EST = {"prometheus": "Prometheus estimates", "processes": "bucket estimates", "process": "exact"}


@st.cache_resource(max_entries=16, ttl=30, show_spinner=False)
def _figures(range_s: float, tick: int, marks: tuple[tuple[float, str], ...]) -> dict[str, Any]:
    """Every chart of one reading, built once per ``tick`` for all sessions."""
    r = services.metrics_reading(range_s)
    est = EST[r.origin]
    wf = {f"p{round(q * 100)}": ts.series.get("all", []) for q, ts in r.workflow_latency.items()}
    snap = r.snapshot
    return {
        "wf": charts.ts_lines(wf, f"Workflow latency, {est}", "ms", marks, 1000.0),
        "tput": charts.ts_lines(r.throughput.series, "Throughput", "runs/s", marks),
        "nodes": panels.node_panels(
            {q: ts.series for q, ts in r.node_latency.items()}, marks, f"Per-node latency (ms), {est}"
        ),
        "hits": charts.ts_lines(
            r.cache_hit_rate.series,
            "Cache hit rate by level",
            "%",
            marks,
            100.0,
            note="no cache lookups in this window",
        ),
        "hit_nodes": charts.hit_rate_bars(r.hit_rate_by_node, "Cache hit rate by node, this window (%)"),
        "mem": charts.ts_lines(r.memory.series, "Resident memory per process", "MiB", marks, 1 / 2**20),
        "coalesced": charts.ts_lines(
            r.coalesced.series if r.coalesced else {},
            "Coalesced runs (joined an identical run)",
            "per s",
            marks,
            note="no coalesced runs in this window",
        ),
        "err": charts.ts_lines(
            r.error_rate.series, "Error rate", "%", marks, 100.0, note="no finished runs in this window"
        ),
        "phases": charts.phase_bars(present.phase_rows(snap), "Share of time by phase, per settings version"),
        "node_time": charts.count_bars(present.node_time(snap), "Time in each node, recent window (s)", "s"),
        "val": charts.count_bars(snap.validation_errors, "Validation errors (model.field)"),
        "src": charts.count_bars(snap.source_failures, "Source failures"),
    }


def _chart(where: Any, fig: Any, key: str) -> None:
    # live: static (no hover layers to rebuild at every redraw); paused: frozen and interactive
    where.plotly_chart(fig, key=key, config={"displaylogo": False, "staticPlot": not paused})


@st.fragment(run_every=1)
def live() -> None:
    t0 = time.perf_counter()
    r = services.metrics_reading(range_s)
    marks = tuple(services.change_marks())
    # charts change every 2 s (each change is a full Plotly redraw in every browser); counts every second
    if paused and "metrics_frozen" in st.session_state:
        figs = st.session_state["metrics_frozen"]
    else:
        figs = st.session_state["metrics_frozen"] = _figures(float(range_s), int(time.time()) // 2, marks)
    counts = r.counts
    live_procs = sum(1 for p in r.processes if p.alive)
    with st.container(key="metrics-tick"):
        where = {
            "prometheus": r.status.message,
            "processes": f"{live_procs} live process{'es' if live_procs != 1 else ''} "
            f"({len(r.processes)} in the metrics directory)",
            "process": r.status.message,
        }[r.origin]
        st.markdown(f"{ORIGINS[r.origin]} {where} · updated {services.clock()}")
    own = services.own_runs()
    k = st.columns(7)
    k[0].metric("Runs ok", int(counts.runs.get("ok", 0)), help="every process in the view")
    k[1].metric("Errors", int(counts.runs.get("error", 0)))
    k[2].metric("Rejected", int(counts.rejected))
    k[3].metric("Active", int(counts.active))
    k[4].metric("Queued", int(counts.queue_depth))
    coalesced = sum(v for _, pts in (r.coalesced.series.items() if r.coalesced else []) for _, v in pts)
    k[5].metric("Coalesced", int(coalesced), help="runs that joined an identical run in flight, this window")
    k[6].metric("Settings", f"v{r.snapshot.settings_version or services.current_settings().version}")
    st.caption(
        f"Counts over every process ({r.origin}); this dashboard's own engine: {own.get('ok', 0):,} ok runs. "
        f"Latency lines are {EST[r.origin]} from histogram buckets"
        + (
            "; the exact percentiles of this dashboard's engine are in the table below."
            if r.origin != "process"
            else "."
        )
    )
    if marks:
        st.caption(f"Settings changes (dotted lines, ◆): {jobs.marks_strip(list(marks))}")
    a, b = st.columns(2)
    _chart(a, figs["wf"], "m_wf")
    _chart(b, figs["tput"], "m_tput")
    _chart(st, figs["nodes"], "m_nodes")
    a, b = st.columns(2)
    _chart(a, figs["hits"], "m_hits")
    _chart(b, figs["hit_nodes"], "m_hit_nodes")
    a, b = st.columns(2)
    _chart(a, figs["mem"], "m_mem")
    _chart(b, figs["coalesced"], "m_coalesced")
    a, b = st.columns(2)
    _chart(a, figs["err"], "m_err")
    if r.processes:
        with b:
            st.markdown("**Processes**")
            tables.show(
                frames.processes_frame(r.processes), "m_processes", PROCESS_COLUMNS, file_name="processes.csv"
            )

    st.subheader("Node latency: exact beside estimated")
    tables.show(
        frames.node_latency_frame(r.snapshot, r.node_estimates),
        "m_node_table",
        NODE_COLUMNS,
        file_name="node-latency.csv",
    )
    st.subheader("Where the time goes (this dashboard's engine)")
    a, b = st.columns(2)
    _chart(a, figs["phases"], "m_phases")
    _chart(b, figs["node_time"], "m_node_time")
    a, b = st.columns(2)
    _chart(a, figs["val"], "m_val")
    _chart(b, figs["src"], "m_src")
    with st.container(key="metrics-server-ms"):
        st.caption(f"panel built in {(time.perf_counter() - t0) * 1000:.0f} ms on the server")


_EXACT = "exact (numpy) over this dashboard's raw sample window"
_ESTIMATE = "estimated from histogram buckets over every process, this window (what Prometheus would show)"
NODE_COLUMNS = {
    "p50 exact": tables.ms("p50 exact", help=_EXACT),
    "p95 exact": tables.ms("p95 exact", help=_EXACT),
    "p99 exact": tables.ms("p99 exact", help=_EXACT),
    "p50 est.": tables.ms("p50 est.", help=_ESTIMATE),
    "p95 est.": tables.ms("p95 est.", help=_ESTIMATE),
    "p99 est.": tables.ms("p99 est.", help=_ESTIMATE),
}
PROCESS_COLUMNS = {
    "memory (MiB)": tables.num("memory (MiB)", "%.0f MiB"),
    "started": tables.when("started"),
    "last write": tables.when("last write"),
}

live()
