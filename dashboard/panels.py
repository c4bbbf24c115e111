"""Small-multiples figures: one figure holding several panels (a burst's timeline, per-node latency).

One figure per refresh instead of one per metric: a live page with several viewers pays plotly's
serialization and the browser's render once. Built as plain dicts like ``dashboard.charts``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from dashboard.charts import (
    LEGEND,
    MS,
    PALETTE,
    Marks,
    Spec,
    empty,
    epoch_ms,
    make_figure,
    mark_specs,
    note_spec,
    time_axis,
)


def _grid(
    n: int, cols: int, gap_x: float = 0.08, gap_y: float = 0.1
) -> list[tuple[list[float], list[float]]]:
    """``(x domain, y domain)`` of each of ``n`` panels in a ``cols``-wide grid, row by row from the top."""
    rows = (n + cols - 1) // cols
    w = (1 - gap_x * (cols - 1)) / cols
    h = (1 - gap_y * (rows - 1)) / rows
    out = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (w + gap_x)
        y1 = 1 - r * (h + gap_y)
        out.append(([x0, x0 + w], [max(y1 - h, 0.0), y1]))
    return out


def _panels(
    titles: Sequence[str],
    cols: int,
    *,
    height_each: int,
    time_x: bool,
    top: int = 60,
    gap_y: float | None = None,
) -> Spec:
    """A layout of small multiples: axes ``x1..xN`` / ``y1..yN``, one title annotation per panel."""
    n = len(titles)
    n_rows = (n + cols - 1) // cols
    gy = gap_y if gap_y is not None else min(0.14, 0.6 / max(n_rows, 1))
    layout: Spec = {
        "height": height_each * n_rows + top + 20,
        "margin": {"l": 10, "r": 10, "t": top, "b": 10},
        # above the first row's panel titles (a legend at y=1 would sit on them)
        "legend": {**LEGEND, "x": 0, "xanchor": "left", "y": 1 + 26 / max(height_each * n_rows - 20, 1)},
        "hovermode": "x unified",
        "annotations": [],
        "shapes": [],
        "showlegend": True,
    }
    for i, ((xd, yd), title) in enumerate(zip(_grid(n, cols, gap_y=gy), titles, strict=True)):
        k = "" if i == 0 else str(i + 1)
        xa: Spec = {"domain": xd, "anchor": f"y{k}", "automargin": True, "nticks": 6, "showticklabels": True}
        if time_x:
            time_axis(xa)
            xa["nticks"] = 6
        if i > 0:
            xa["matches"] = "x"
        layout[f"xaxis{k}"] = xa
        layout[f"yaxis{k}"] = {
            "domain": yd,
            "anchor": f"x{k}",
            "automargin": True,
            "nticks": 5,
            "rangemode": "tozero",
        }
        layout["annotations"].append(
            {"text": title, "x": (xd[0] + xd[1]) / 2, "y": yd[1], "xref": "paper", "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}}
        )  # fmt: skip
    return layout


def timeline_panel(
    rows: Sequence[Mapping[str, Any]],
    panels: Sequence[tuple[str, Sequence[str], str, str, float]],
    marks: Marks = (),
    *,
    averages: Mapping[str, float | None] | None = None,
    x: str = "wall_time",
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Every burst metric as one figure of small multiples (``panels``: name, fields, title, unit,
    scale). One figure per refresh instead of one per metric: a live page with several viewers
    pays plotly's serialization and the browser's render once, not once per metric.

    ``averages`` (field -> value) draws a dashed whole-burst line on that field's panel, so the
    headline number and the chart visibly agree. ``x="t"`` plots seconds since the start instead
    of wall time (to overlay bursts); ``rows`` may then carry a ``burst`` key, one trace each.
    """
    layout = _panels([f"{p[2]} ({p[3]})" for p in panels], 2, height_each=210, time_x=x == "wall_time")
    layout["uirevision"] = "burst-panel"
    if not rows:
        for k in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
            layout[k]["visible"] = False
        layout["annotations"].append(note_spec("no timeline yet: the first second appears once load starts"))
        return make_figure([], layout)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r.get("burst", "")), []).append(r)
    data: list[Spec] = []
    color = 0
    for g, (group, grows) in enumerate(groups.items()):
        xs = [epoch_ms(float(r[x])) for r in grows] if x == "wall_time" else [r[x] for r in grows]
        for i, (_name, fields, _title, unit, scale) in enumerate(panels):
            k = "" if i == 0 else str(i + 1)
            for j, f in enumerate(fields):
                label = (names or {}).get(f, f)
                name = f"{group} {label}".strip() if len(groups) > 1 else label
                dash = ("solid", "dash", "dot", "dashdot")[g % 4] if len(groups) > 1 else "solid"
                data.append(
                    {"type": "scatter", "mode": "lines", "connectgaps": False, "x": xs,
                     "y": [None if r.get(f) is None else r[f] * scale for r in grows],
                     "xaxis": f"x{k}", "yaxis": f"y{k}", "name": name, "legendgroup": name,
                     "showlegend": len(fields) > 1 or len(groups) > 1,
                     "line": {"color": PALETTE[(color + j) % len(PALETTE)], "width": 2, "dash": dash},
                     "hovertemplate": f"{name}: %{{y:.4~g}} {unit}<extra></extra>"}
                )  # fmt: skip
                avg = (averages or {}).get(f)
                if avg is not None and len(groups) == 1:
                    layout["shapes"].append(
                        {"type": "line", "xref": f"x{k} domain", "yref": f"y{k}", "x0": 0, "x1": 1,
                         "y0": avg * scale, "y1": avg * scale,
                         "line": {"dash": "dash", "color": "#888", "width": 1}}
                    )  # fmt: skip
                    layout["annotations"].append(
                        {"text": f"whole burst {avg * scale:.4g}", "xref": f"x{k} domain", "yref": f"y{k}",
                         "x": 0, "y": avg * scale, "xanchor": "left", "yanchor": "bottom", "showarrow": False,
                         "font": {"size": 10, "color": "#666"}}
                    )  # fmt: skip
            if unit == "%":
                layout[f"yaxis{k}"].update(range=[0, 105], ticksuffix="%")
        color += sum(len(p[1]) for p in panels) if len(groups) == 1 else 1
    if x == "wall_time":
        span = float(rows[-1]["wall_time"]) - float(rows[0]["wall_time"])
        if span < 8:  # one tick per second: plotly would repeat a label every half second
            for k in [k for k in layout if k.startswith("xaxis")]:
                layout[k]["dtick"] = 1000
        shapes, notes = mark_specs(marks, float(rows[0]["wall_time"]), None)
        for i in range(len(panels)):  # one line per change on every panel
            k = "" if i == 0 else str(i + 1)
            layout["shapes"] += [{**s, "xref": f"x{k}", "yref": f"y{k} domain"} for s in shapes]
        layout["annotations"] += notes
    else:
        for i in range(len(panels) - 2, len(panels)):
            layout[f"xaxis{'' if i == 0 else i + 1}"]["title"] = {"text": "s since start"}
    return make_figure(data, layout)


def node_panels(
    by_quantile: Mapping[float, Mapping[str, Sequence[tuple[float, float]]]],
    marks: Marks = (),
    title: str = "Per-node latency (ms)",
    scale: float = MS,
) -> go.Figure:
    """One small panel per node with its p50/p95/p99 lines: ``{q: {node: [(unix_t, seconds)]}}``."""
    nodes = sorted({n for series in by_quantile.values() for n, pts in series.items() if pts})
    if not nodes:
        return empty(None, title, "no node runs in this window yet")
    layout = _panels(
        nodes, 2, height_each=170, time_x=True, top=70, gap_y=0.32 / max((len(nodes) + 1) // 2, 1)
    )
    layout["title"] = {
        "text": title,
        "font": {"size": 14},
        "x": 0,
        "xanchor": "left",
        "y": 0.995,
        "yanchor": "top",
    }
    layout["uirevision"] = title
    layout["legend"]["x"], layout["legend"]["xanchor"] = 1, "right"
    data: list[Spec] = []
    start = None
    for i, node in enumerate(nodes):
        k = "" if i == 0 else str(i + 1)
        for j, (q, series) in enumerate(sorted(by_quantile.items())):
            pts = series.get(node) or []
            if pts:
                start = pts[0][0] if start is None else min(start, pts[0][0])
            qn = f"p{round(q * 100)}"
            data.append(
                {"type": "scatter", "mode": "lines",
                 "x": [epoch_ms(t) for t, _ in pts], "y": [v * scale for _, v in pts],
                 "xaxis": f"x{k}", "yaxis": f"y{k}", "name": qn, "legendgroup": qn, "showlegend": i == 0,
                 "line": {"color": PALETTE[j % len(PALETTE)], "width": 1.5},
                 "hovertemplate": f"{node} {qn}: %{{y:.1f}} ms<extra></extra>"}
            )  # fmt: skip
    shapes, notes = mark_specs(marks, start, None)
    for i in range(len(nodes)):
        k = "" if i == 0 else str(i + 1)
        layout["shapes"] += [{**s, "xref": f"x{k}", "yref": f"y{k} domain"} for s in shapes]
    layout["annotations"] += notes
    return make_figure(data, layout)
