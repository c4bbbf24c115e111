"""Figure builders (plotly ``graph_objects`` only: express costs ~20x more per figure on hot charts).

Each builder takes plain data (model instances, dicts, lists) and returns a ``go.Figure``; none reads
Streamlit or the engine. Time charts take ``marks`` = ``[(unix_time, label)]`` (settings changes)
and draw each as a dotted vertical line with its version label.

    fig = latency_lines(snapshot.series, marks=[(t, "v2")])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

Marks = Sequence[tuple[float, str]]
_MS = 1000.0
PALETTE = ("#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#B279A2", "#FF9DA6", "#9D755D")
BURST_CHARTS: tuple[tuple[str, tuple[str, ...], str, str, float], ...] = (
    ("throughput", ("throughput",), "Throughput", "runs/s", 1.0),
    ("latency", ("p50_ms", "p95_ms", "p99_ms"), "Latency", "ms", 1.0),
    ("errors", ("errors",), "Errors", "per s", 1.0),
    ("rejected", ("rejected",), "Rejected (overloaded)", "per s", 1.0),
    ("in_flight", ("in_flight",), "In flight", "runs", 1.0),
    ("hit_rate", ("hit_rate",), "Cache hit rate", "%", 100.0),
    ("memory", ("rss_mb",), "Memory (burst process)", "MiB", 1.0),
)
"""The Load page's panels: ``(key, timeline fields, title, unit, scale)`` for ``timeline_panel``."""


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _layout(fig: go.Figure, title: str, *, y: str = "", x: str = "", height: int = 280) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.25},
        yaxis_title=y,
        xaxis_title=x,
        uirevision=title,  # keeps zoom across live refreshes
    )
    return fig


def add_marks(fig: go.Figure, marks: Marks, start: float | None = None) -> go.Figure:
    """Draw each settings change (``(unix_time, label)``) at or after ``start`` as a labelled line."""
    for t, label in marks:
        if start is not None and t < start:
            continue
        fig.add_vline(x=_ts(t), line={"dash": "dot", "color": "#888", "width": 1})
        fig.add_annotation(
            x=_ts(t),
            y=1,
            yref="paper",
            text=label,
            showarrow=False,
            yanchor="bottom",
            font={"size": 10, "color": "#555"},
        )
    return fig


def waterfall(timings: Iterable[Any], title: str = "Where this run's time went") -> go.Figure:
    """Per-node bars from start to end (ms); cache hits drawn in green with a ``(cache)`` label.

    ``timings``: ``NodeTiming``-like objects (``node``, ``start_s``, ``duration_s``, ``cache_hit``).
    """
    rows = list(timings)
    names = [f"{t.node} (cache)" if t.cache_hit else t.node for t in rows]
    fig = go.Figure(
        go.Bar(
            y=names,
            x=[max(t.duration_s * _MS, 0.05) for t in rows],
            base=[t.start_s * _MS for t in rows],
            orientation="h",
            marker_color=["#54A24B" if t.cache_hit else "#4C78A8" for t in rows],
            text=[f"{t.duration_s * _MS:.1f} ms" for t in rows],
            textposition="outside",
            hovertemplate="%{y}: start %{base:.1f} ms, %{x:.1f} ms<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, x="ms since the run started", height=max(160, 40 + 32 * len(rows)))


def _lines(
    title: str,
    xs: list[datetime],
    series: Mapping[str, list[Any]],
    y: str,
    marks: Marks,
    start: float | None,
    *,
    mode: str = "lines",
) -> go.Figure:
    fig = go.Figure()
    for i, (name, ys) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode=mode,
                connectgaps=False,
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
            )
        )
    return add_marks(_layout(fig, title, y=y), marks, start)


def latency_lines(points: Sequence[Any], marks: Marks = (), title: str = "Workflow latency") -> go.Figure:
    """p50/p95/p99 (ms) per second from ``SeriesPoint``-like objects (``t``, ``p50``, ``p95``, ``p99``)."""
    xs = [_ts(p.t) for p in points]
    ms = {
        q: [None if getattr(p, q) is None else getattr(p, q) * _MS for p in points]
        for q in ("p50", "p95", "p99")
    }
    return _lines(title, xs, ms, "ms", marks, points[0].t if points else None, mode="lines+markers")


def node_p95_lines(points: Sequence[Any], marks: Marks = ()) -> go.Figure:
    """Per-node p95 (ms) per second, one line per node."""
    nodes = sorted({n for p in points for n in p.node_p95})
    xs = [_ts(p.t) for p in points]
    ys = {n: [p.node_p95[n] * _MS if n in p.node_p95 else None for p in points] for n in nodes}
    return _lines(
        "Per-node p95 latency", xs, ys, "ms", marks, points[0].t if points else None, mode="lines+markers"
    )


def value_line(
    points: Sequence[Any], field: str, title: str, y: str, marks: Marks = (), scale: float = 1.0
) -> go.Figure:
    """One field of each point over time (e.g. ``runs`` = throughput, ``rss_bytes`` = memory)."""
    xs = [_ts(p.t) for p in points]
    vals = [None if getattr(p, field, None) is None else getattr(p, field) * scale for p in points]
    return _lines(title, xs, {title: vals}, y, marks, points[0].t if points else None)


def hit_rate_line(points: Sequence[Any], marks: Marks = ()) -> go.Figure:
    """Cache hit rate (%) per second."""
    return value_line(points, "hit_rate", "Cache hit rate", "%", marks, scale=100.0)


def memory_line(points: Sequence[Any], marks: Marks = ()) -> go.Figure:
    """Resident memory (MiB) over time."""
    return value_line(points, "rss_bytes", "Resident memory", "MiB", marks, scale=1 / 2**20)


def hit_rate_bars(
    rates: Mapping[str, Mapping[str, float | None]], title: str = "Cache hit rate by node"
) -> go.Figure:
    """Grouped bars: ``{level: {node: rate 0-1 | None}}`` as percentages."""
    fig = go.Figure()
    for i, (level, by_node) in enumerate(sorted(rates.items())):
        nodes = sorted(by_node)
        fig.add_trace(
            go.Bar(
                name=level,
                x=nodes,
                y=[(by_node[n] or 0.0) * 100 for n in nodes],
                marker_color=PALETTE[i % len(PALETTE)],
            )
        )
    fig.update_layout(barmode="group", yaxis_range=[0, 100])
    return _layout(fig, title, y="% hits")


def phase_bars(phases: Mapping[Any, Mapping[str, float]], title: str = "Where the time goes") -> go.Figure:
    """Stacked bars: one bar per group (settings version or node), one segment per phase (seconds)."""
    names = sorted({p for by in phases.values() for p in by})
    groups = [str(g) for g in phases]
    fig = go.Figure()
    for i, ph in enumerate(names):
        fig.add_trace(
            go.Bar(
                name=ph,
                x=groups,
                y=[phases[g].get(ph, 0.0) for g in phases],
                marker_color=PALETTE[i % len(PALETTE)],
            )
        )
    fig.update_layout(barmode="stack")
    return _layout(fig, title, y="share" if all(sum(v.values()) <= 1.0001 for v in phases.values()) else "s")


def count_bars(counts: Mapping[str, int | float], title: str, y: str = "count") -> go.Figure:
    """Simple bars from a mapping (validation errors by field, source failures by source...)."""
    keys = sorted(counts)
    fig = go.Figure(go.Bar(x=keys, y=[counts[k] for k in keys], marker_color=PALETTE[2]))
    return _layout(fig, title, y=y)


def benchmark_bars(
    rows: Sequence[Mapping[str, Any]],
    x: str,
    y: str,
    title: str,
    *,
    log: bool = False,
    group: str | None = None,
) -> go.Figure:
    """Bars of ``rows[y]`` by ``rows[x]`` (optionally grouped by ``rows[group]``), for micro-benchmarks."""
    fig = go.Figure()
    groups = sorted({str(r[group]) for r in rows}) if group else [""]
    for i, g in enumerate(groups):
        sel = [r for r in rows if not group or str(r[group]) == g]
        fig.add_trace(
            go.Bar(
                name=g or y,
                x=[str(r[x]) for r in sel],
                y=[r[y] for r in sel],
                text=[f"{r[y]:.3g}" for r in sel],
                textposition="outside",
                marker_color=PALETTE[i % len(PALETTE)],
            )
        )
    fig.update_layout(barmode="group", showlegend=bool(group))
    if log:
        fig.update_yaxes(type="log")
    return _layout(fig, title, y=y)


def timeline_lines(
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    title: str,
    y: str,
    marks: Marks = (),
    scale: float = 1.0,
) -> go.Figure:
    """Lines over a burst timeline (``core.load.timeline`` entries: ``wall_time`` unix seconds + fields)."""
    xs = [_ts(float(r["wall_time"])) for r in rows]
    ys = {f: [None if r.get(f) is None else r[f] * scale for r in rows] for f in fields}
    return _lines(
        title, xs, ys, y, marks, float(rows[0]["wall_time"]) if rows else None, mode="lines+markers"
    )


def comparison_bars(
    labels: Sequence[str], values: Mapping[str, Sequence[float]], title: str, y: str
) -> go.Figure:
    """Before/after bars: ``values`` = ``{configuration: [value per label]}``."""
    fig = go.Figure()
    for i, (name, vals) in enumerate(values.items()):
        fig.add_trace(go.Bar(name=name, x=list(labels), y=list(vals), marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group")
    return _layout(fig, title, y=y)


def ts_lines(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    y: str,
    marks: Marks = (),
    scale: float = 1.0,
    *,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Lines from ``{label: [(unix_t, value), ...]}`` (``core.metrics.promclient.Timeseries.series``)."""
    fig = go.Figure()
    start = min((pts[0][0] for pts in series.values() if pts), default=None)
    for i, (label, pts) in enumerate(sorted(series.items())):
        fig.add_trace(
            go.Scatter(
                x=[_ts(t) for t, _ in pts],
                y=[v * scale for _, v in pts],
                name=(names or {}).get(label, label),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
            )
        )
    return add_marks(_layout(fig, title, y=y), marks, start)


def timeline_panel(
    rows: Sequence[Mapping[str, Any]],
    panels: Sequence[tuple[str, Sequence[str], str, str, float]],
    marks: Marks = (),
) -> go.Figure:
    """Every burst metric as one figure of small multiples (``panels``: name, fields, title, unit,
    scale). One figure per refresh instead of one per metric: a live page with several viewers
    pays plotly's serialization and the browser's render once, not once per metric."""
    from plotly.subplots import make_subplots

    n_rows = (len(panels) + 1) // 2
    fig = make_subplots(
        rows=n_rows,
        cols=2,
        subplot_titles=[f"{p[2]} ({p[3]})" for p in panels],
        shared_xaxes=True,
        vertical_spacing=0.09,
        horizontal_spacing=0.08,
    )
    xs = [_ts(float(r["wall_time"])) for r in rows]
    start = float(rows[0]["wall_time"]) if rows else None
    color = 0
    for i, (_name, fields, _title, _unit, scale) in enumerate(panels):
        row, col = i // 2 + 1, i % 2 + 1
        for f in fields:
            ys = [None if r.get(f) is None else r[f] * scale for r in rows]
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    name=f,
                    mode="lines+markers",
                    showlegend=len(fields) > 1,
                    line={"color": PALETTE[color % len(PALETTE)], "width": 2},
                ),
                row=row,
                col=col,
            )
            color += 1
    add_marks(fig, marks, start)  # add_vline spans every subplot by default
    fig.update_layout(
        height=230 * n_rows,
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "y": 1.04, "x": 0.55},
        uirevision="burst-panel",
    )
    return fig
