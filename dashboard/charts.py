"""Figure builders (plotly ``graph_objects`` only: express costs ~20x more per figure on hot charts).

Each builder takes plain data (model instances, dicts, lists) and returns a ``go.Figure``; none reads
Streamlit or the engine. Figures are assembled as plain dicts and wrapped once, unvalidated
(``go.Figure(spec, _validate=False)``): property-by-property validation made one live chart cost
10-20 ms of server time, the dict costs ~1 ms. Times go in as epoch milliseconds on date axes.

Time charts take ``marks`` = ``[(unix_time, label)]`` (settings changes), drawn as one dotted line
each with a small glyph on top whose label shows on hover (never stacked text). A chart with
nothing to draw says "none yet" instead of showing bare axes (and gives the browser no empty trace
to compute NaN ranges from). Titles carry their unit.

    fig = ts_lines({"p95": [(t, 0.12)]}, "Workflow latency", "ms", marks=[(t, "v2")], scale=1000)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

Marks = Sequence[tuple[float, str]]
Spec = dict[str, Any]
MS = 1000.0
PALETTE = ("#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#B279A2", "#FF9DA6", "#9D755D")
BURST_CHARTS: tuple[tuple[str, tuple[str, ...], str, str, float], ...] = (
    ("throughput", ("throughput",), "Throughput", "runs/s", 1.0),
    ("latency", ("p50_ms", "p95_ms", "p99_ms"), "Latency", "ms", 1.0),
    ("errors", ("errors_per_s", "rejected_per_s"), "Errors and rejected", "per s", 1.0),
    ("in_flight", ("in_flight",), "In flight", "requests", 1.0),
    ("hit_rate", ("hit_rate",), "Cache hit rate", "%", 100.0),
    ("memory", ("rss_mb",), "Memory (burst processes)", "MiB", 1.0),
)
"""The Load page's panels: ``(key, timeline fields, title, unit, scale)`` for ``timeline_panel``."""
NONE_YET = "none yet"
_TIME_FMT = "%H:%M:%S"
LEGEND = {
    "orientation": "h",
    "y": 1.0,
    "yanchor": "bottom",
    "x": 1,
    "xanchor": "right",
    "font": {"size": 11},
}
_NOTE_FONT = {"size": 13, "color": "#888"}


def epoch_ms(t: float) -> float:
    """Unix seconds -> epoch ms (what a plotly date axis reads)."""
    return t * 1000.0


def make_figure(data: list[Spec], layout: Spec) -> go.Figure:
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _base(title: str, *, y: str = "", x: str = "", height: int = 280) -> Spec:
    return {
        "title": {
            "text": title,
            "font": {"size": 14},
            "x": 0,
            "xanchor": "left",
            "y": 0.98,
            "yanchor": "top",
        },
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
        # legend above the plot, right of the title: never on top of the title or the ticks
        "legend": dict(LEGEND),
        "xaxis": {"title": {"text": x}, "automargin": True},
        "yaxis": {"title": {"text": y}, "automargin": True, "nticks": 6, "rangemode": "tozero"},
        "uirevision": title,  # keeps zoom across live refreshes
        "hovermode": "x unified",
        "annotations": [],
        "shapes": [],
    }


def time_axis(axis: Spec, span_s: float | None = None) -> Spec:
    """A wall-clock axis; under 8 s of data, one tick per second (plotly would repeat a label)."""
    axis.update(type="date", tickformat=_TIME_FMT, hoverformat=_TIME_FMT, nticks=8)
    if span_s is not None and span_s < 8:
        axis["dtick"] = 1000
    return axis


def _empty_layout(title: str, note: str, height: int) -> Spec:
    layout = _base(title, height=height)
    layout["xaxis"] = {"visible": False}
    layout["yaxis"] = {"visible": False}
    layout["annotations"] = [note_spec(note)]
    return layout


def note_spec(text: str, x: float = 0.5, y: float = 0.5) -> Spec:
    return {
        "text": text,
        "x": x,
        "y": y,
        "xref": "paper",
        "yref": "paper",
        "showarrow": False,
        "font": _NOTE_FONT,
    }


def empty(fig: go.Figure | None, title: str, note: str = NONE_YET, height: int = 280) -> go.Figure:
    """A figure with no data: hidden axes and a centred note instead of bare axes."""
    return make_figure([], _empty_layout(title, note, height))


def mark_specs(
    marks: Marks, start: float | None, end: float | None, xref: str = "x"
) -> tuple[list[Spec], list[Spec]]:
    shapes, notes = [], []
    for t, label in marks:
        if (start is not None and t < start) or (end is not None and t > end + 1):
            continue
        x = epoch_ms(t)
        shapes.append(
            {"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "xref": xref, "yref": "paper",
             "line": {"dash": "dot", "color": "#999", "width": 1}}
        )  # fmt: skip
        notes.append(
            {"x": x, "y": 1, "xref": xref, "yref": "paper", "text": "◆", "showarrow": False,
             "yanchor": "middle", "font": {"size": 10, "color": "#777"},
             "hovertext": f"settings {label} at {time.strftime('%H:%M:%S', time.gmtime(t))} UTC"}
        )  # fmt: skip
    return shapes, notes


def add_marks(
    fig: go.Figure, marks: Marks, start: float | None = None, end: float | None = None
) -> go.Figure:
    """Draw each settings change (``(unix_time, label)``) inside ``[start, end]`` as a dotted line
    with a small glyph on top; the label shows on hover."""
    shapes, notes = mark_specs(marks, start, end)
    for s in shapes:
        fig.add_shape(s)
    for n in notes:
        fig.add_annotation(n)
    return fig


def waterfall(timings: Iterable[Any], title: str = "Where this run's time went") -> go.Figure:
    """Per-node bars from start to end (ms); cache hits drawn in green with a ``(cache)`` label.

    ``timings``: ``NodeTiming``-like objects (``node``, ``start_s``, ``duration_s``, ``cache_hit``).
    """
    rows = list(timings)
    if not rows:
        return empty(None, title)
    end = max(t.start_s + t.duration_s for t in rows) * MS
    bar = {
        "type": "bar", "orientation": "h",
        "y": [f"{t.node} (cache)" if t.cache_hit else t.node for t in rows],
        "x": [max(t.duration_s * MS, 0.05) for t in rows],
        "base": [t.start_s * MS for t in rows],
        "marker": {"color": ["#54A24B" if t.cache_hit else "#4C78A8" for t in rows]},
        "text": [f"{t.duration_s * MS:.1f} ms" for t in rows], "textposition": "outside",
        "cliponaxis": False, "hovertemplate": "%{y}: start %{base:.1f} ms, %{x:.1f} ms<extra></extra>",
    }  # fmt: skip
    layout = _base(title, x="ms since the run started", height=max(160, 60 + 32 * len(rows)))
    layout["yaxis"] = {"autorange": "reversed", "automargin": True}
    layout["xaxis"]["range"] = [0, end * 1.25 or 1]  # room for the last bar's label
    layout["margin"]["r"] = 40
    layout["hovermode"] = "closest"
    return make_figure([bar], layout)


def _scatter(xs: list[Any], ys: list[Any], name: str, i: int, **extra: Any) -> Spec:
    return {
        "type": "scatter", "x": xs, "y": ys, "name": name, "mode": "lines", "connectgaps": False,
        "line": {"color": PALETTE[i % len(PALETTE)], "width": 2}, **extra,
    }  # fmt: skip


def _lines(
    title: str,
    xs: list[float],
    series: Mapping[str, list[Any]],
    y: str,
    marks: Marks,
    start: float | None,
    *,
    mode: str = "lines",
) -> go.Figure:
    if not xs or all(v is None for ys in series.values() for v in ys):
        return empty(None, title)
    data = [
        _scatter(xs, ys, name, i, mode=mode, marker={"size": 4})
        for i, (name, ys) in enumerate(series.items())
    ]
    layout = _base(title, y=y)
    time_axis(layout["xaxis"])
    layout["showlegend"] = len(series) > 1
    layout["shapes"], layout["annotations"] = mark_specs(marks, start, None)
    return make_figure(data, layout)


def latency_lines(
    points: Sequence[Any], marks: Marks = (), title: str = "Workflow latency (ms)"
) -> go.Figure:
    """p50/p95/p99 (ms) per second from ``SeriesPoint``-like objects (``t``, ``p50``, ``p95``, ``p99``)."""
    xs = [epoch_ms(p.t) for p in points]
    ms = {
        q: [None if getattr(p, q) is None else getattr(p, q) * MS for p in points]
        for q in ("p50", "p95", "p99")
    }
    return _lines(title, xs, ms, "ms", marks, points[0].t if points else None, mode="lines+markers")


def value_line(
    points: Sequence[Any], field: str, title: str, y: str, marks: Marks = (), scale: float = 1.0
) -> go.Figure:
    """One field of each point over time (e.g. ``runs`` = throughput, ``rss_bytes`` = memory)."""
    xs = [epoch_ms(p.t) for p in points]
    vals = [None if getattr(p, field, None) is None else getattr(p, field) * scale for p in points]
    return _lines(f"{title} ({y})", xs, {title: vals}, y, marks, points[0].t if points else None)


def hit_rate_bars(
    rates: Mapping[str, Mapping[str, float | None]], title: str = "Cache hit rate by node (%)"
) -> go.Figure:
    """Grouped bars: ``{level: {node: rate 0-1 | None}}`` as percentages."""
    present = {lv: {n: r for n, r in by.items() if r is not None} for lv, by in rates.items()}
    present = {lv: by for lv, by in present.items() if by}
    if not present:
        return empty(None, title, "no cache lookups yet")
    data = []
    for i, (level, by_node) in enumerate(sorted(present.items())):
        nodes = sorted(by_node)
        data.append(
            {"type": "bar", "name": level, "x": nodes, "y": [by_node[n] * 100 for n in nodes],
             "marker": {"color": PALETTE[i % len(PALETTE)]},
             "hovertemplate": f"{level} %{{x}}: %{{y:.1f}}%<extra></extra>"}
        )  # fmt: skip
    layout = _base(title)
    layout.update(barmode="group", hovermode="closest")
    layout["yaxis"].update(range=[0, 100], ticksuffix="%")
    return make_figure(data, layout)


def phase_bars(phases: Mapping[Any, Mapping[str, float]], title: str = "Where the time goes") -> go.Figure:
    """Stacked bars: one bar per group (settings version or node), one segment per phase."""
    if not phases:
        return empty(None, title, "no runs yet")
    names = sorted({p for by in phases.values() for p in by})
    groups = [str(g) for g in phases]
    share = all(sum(v.values()) <= 1.0001 for v in phases.values())
    data = [
        {"type": "bar", "name": ph, "x": groups,
         "y": [phases[g].get(ph, 0.0) * (100 if share else 1) for g in phases],
         "marker": {"color": PALETTE[i % len(PALETTE)]}}
        for i, ph in enumerate(names)
    ]  # fmt: skip
    layout = _base(title)
    layout.update(barmode="stack", hovermode="closest")
    if share:
        layout["yaxis"].update(range=[0, 100], ticksuffix="%")
    return make_figure(data, layout)


def count_bars(counts: Mapping[str, int | float], title: str, y: str = "count") -> go.Figure:
    """Simple bars from a mapping (validation errors by field, source failures by source...)."""
    keys = sorted(counts)
    if not keys:
        return empty(None, title, "none so far")
    layout = _base(title, y=y)
    layout["hovermode"] = "closest"
    return make_figure(
        [{"type": "bar", "x": keys, "y": [counts[k] for k in keys], "marker": {"color": PALETTE[2]}}], layout
    )


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
    if not rows:
        return empty(None, title, "not measured yet")
    groups = sorted({str(r[group]) for r in rows}) if group else [""]
    data = []
    for i, g in enumerate(groups):
        sel = [r for r in rows if not group or str(r[group]) == g]
        data.append(
            {"type": "bar", "name": g or y, "x": [str(r[x]) for r in sel], "y": [r[y] for r in sel],
             "text": [f"{r[y]:.3g}" for r in sel], "textposition": "outside", "cliponaxis": False,
             "marker": {"color": PALETTE[i % len(PALETTE)]}}
        )  # fmt: skip
    layout = _base(title, y=y)
    layout.update(barmode="group", showlegend=bool(group), hovermode="closest")
    if log:
        layout["yaxis"]["type"] = "log"
    return make_figure(data, layout)


def timeline_lines(
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    title: str,
    y: str,
    marks: Marks = (),
    scale: float = 1.0,
) -> go.Figure:
    """Lines over a burst timeline (``core.load.timeline`` entries: ``wall_time`` unix seconds + fields)."""
    xs = [epoch_ms(float(r["wall_time"])) for r in rows]
    ys = {f: [None if r.get(f) is None else r[f] * scale for r in rows] for f in fields}
    return _lines(
        title, xs, ys, y, marks, float(rows[0]["wall_time"]) if rows else None, mode="lines+markers"
    )


def comparison_bars(
    labels: Sequence[str], values: Mapping[str, Sequence[float]], title: str, y: str
) -> go.Figure:
    """Before/after bars: ``values`` = ``{configuration: [value per label]}``."""
    if not values:
        return empty(None, title)
    data = [
        {
            "type": "bar",
            "name": name,
            "x": list(labels),
            "y": list(vals),
            "marker": {"color": PALETTE[i % len(PALETTE)]},
        }
        for i, (name, vals) in enumerate(values.items())
    ]
    layout = _base(title, y=y)
    layout.update(barmode="group", hovermode="closest")
    return make_figure(data, layout)


def ts_lines(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    y: str,
    marks: Marks = (),
    scale: float = 1.0,
    *,
    names: Mapping[str, str] | None = None,
    note: str = NONE_YET,
) -> go.Figure:
    """Lines from ``{label: [(unix_t, value), ...]}`` (``core.metrics.promclient.Timeseries.series``).

    The title gets the unit (``Throughput (runs/s)``); ``%`` charts are drawn 0-100.
    """
    full = f"{title} ({y})" if y and not title.endswith(")") else title
    series = {k: v for k, v in series.items() if v}
    if not series:
        return empty(None, full, note)
    start = min(pts[0][0] for pts in series.values())
    end = max(pts[-1][0] for pts in series.values())
    data = [
        _scatter([epoch_ms(t) for t, _ in pts], [v * scale for _, v in pts],
                 (names or {}).get(label, label), i, mode="lines+markers", marker={"size": 3})
        for i, (label, pts) in enumerate(sorted(series.items()))
    ]  # fmt: skip
    layout = _base(full)
    time_axis(layout["xaxis"], end - start)
    layout["showlegend"] = len(series) > 1
    if y == "%":
        layout["yaxis"].update(range=[0, 105], ticksuffix="%")
    layout["shapes"], layout["annotations"] = mark_specs(marks, start, end)
    return make_figure(data, layout)
