"""Experiment reports: JSON, Markdown and HTML with PNG charts (plotly graph_objects + kaleido).

    paths = write_report(result.to_dict(), Path("out/"))   # report.json, report.md, report.html, *.png
    Path("report.zip").write_bytes(archive(paths))          # all of them in one download

Everything works from the plain ``ExperimentResult.to_dict()`` data, so a stored report (e.g. one a
burst process wrote) can be re-rendered without re-running anything. Charts are optional: if the
headless renderer fails, the Markdown/HTML say so and the numbers are all still there.
"""

from __future__ import annotations

import html
import io
import logging
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from core.load.jobfiles import write_json

log = logging.getLogger(__name__)
EMULATED_NOTE = (
    "**Emulated latency**: model and/or source latency in this experiment was emulated (labelled)."
)


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.3g}{unit}" if abs(x) < 100 else f"{x:,.1f}{unit}"
    return f"{x}{unit}"


def _ci(pair: list[float] | None) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]" if pair else ""


def summary_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    """One row per configuration with the headline numbers (strings, for tables)."""
    rows = []
    for name, m in data["per_config"].items():
        rows.append(
            {
                "config": name,
                "throughput/s": f"{_fmt(m['throughput'])} {_ci(m.get('throughput_ci'))}".strip(),
                "p50 ms": f"{_fmt(m['p50_ms'])} {_ci(m.get('p50_ci_ms'))}".strip(),
                "p95 ms": f"{_fmt(m['p95_ms'])} {_ci(m.get('p95_ci_ms'))}".strip(),
                "p99 ms": f"{_fmt(m['p99_ms'])} {_ci(m.get('p99_ci_ms'))}".strip(),
                "errors": f"{m['error_rate']:.2%}",
                "hit rate": "–" if m["hit_rate"] is None else f"{m['hit_rate']:.1%}",
                "peak RSS MB": _fmt(m["peak_rss_mb"]),
                "completed": str(m["completed"]),
            }
        )
    return rows


def ratio_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name, r in data["ratios"].items():
        rows.append(
            {
                "config": f"{name} vs {data['baseline']}",
                "throughput ×": _fmt(r["throughput"]),
                "p50 speedup ×": _fmt(r["p50_speedup"]),
                "p95 speedup ×": _fmt(r["p95_speedup"]),
                "p99 speedup ×": _fmt(r["p99_speedup"]),
            }
        )
    return rows


def node_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    names = list(data["per_config"])
    nodes = sorted({n for m in data["per_config"].values() for n in m["nodes_mean_ms"]})
    rows = []
    for node in nodes:
        row = {"node": node}
        for name in names:
            row[f"{name} ms"] = _fmt(data["per_config"][name]["nodes_mean_ms"].get(node))
        for name, r in data["ratios"].items():
            row[f"{name} speedup ×"] = _fmt(r["nodes_speedup"].get(node))
        rows.append(row)
    return rows


def phase_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    names = list(data["per_config"])
    phases = list(next(iter(data["per_config"].values()))["phases_mean_ms"])
    return [
        {
            "phase": p,
            **{f"{n} ms/run": _fmt(data["per_config"][n]["phases_mean_ms"].get(p)) for n in names},
            **{f"{n} total s": _fmt(data["per_config"][n]["phases_s"].get(p)) for n in names},
        }
        for p in phases
    ]


def _md_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _html_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sections(data: dict[str, Any]) -> list[tuple[str, list[dict[str, str]]]]:
    eq = [
        {
            "config": f"{n} vs {data['baseline']}",
            "questions compared": str(e["compared"]),
            "equal": str(e["equal"]),
            "different": str(e["different"]),
        }
        for n, e in data["equivalence"].items()
    ]
    return [
        ("Per configuration (95% bootstrap CI in brackets)", summary_rows(data)),
        (f"Ratios against the baseline ({data['baseline']}); >1 = better", ratio_rows(data)),
        ("Per node: mean duration when it ran (cache hits excluded)", node_rows(data)),
        ("Time by phase", phase_rows(data)),
        ("Answer equivalence (same question: same finding doc_ids and summary)", eq),
    ]


def _header(data: dict[str, Any]) -> list[str]:
    spec = data["spec"]
    load = spec["load"]
    shape = (
        f"{load['users']} users, think {load['think_time_s']} s ({load['think']})"
        if load["mode"] == "closed"
        else f"open loop at {load['rate']}/s"
    )
    lines = [
        f"Configurations: {', '.join(data['per_config'])} (baseline: {data['baseline']}); "
        f"schedule {spec['schedule']}"
        + (f", {spec['rounds']} rounds" if spec["schedule"] == "interleaved" else "")
        + f"; {load['duration_s']} s per configuration; {shape}; mix {load['mix']}, seed {load['seed']}; "
        f"cache purged before each turn: {spec['purge_cache']}"
        + (f", then {spec['warmup_s']:g} s of unmeasured warm-up." if spec.get("warmup_s") else ".")
    ]
    if data.get("emulated"):
        lines.append(EMULATED_NOTE)
    lines.append("Peak RSS is of the one process that ran every configuration (it never goes down).")
    return lines


def to_markdown(data: dict[str, Any], charts: list[str] | None = None) -> str:
    """The report as Markdown (charts referenced by file name)."""
    out = [f"# Experiment report{': ' + data['spec']['label'] if data['spec'].get('label') else ''}", ""]
    out += [line + "\n" for line in _header(data)]
    for title, rows in _sections(data):
        out += [f"## {title}", "", _md_table(rows)]
    diffs = [d for e in data["equivalence"].values() for d in e["differences"]]
    if diffs:
        out += ["### Differences (first ones)", ""]
        out += [f"- {d['question']!r}: differs in {', '.join(d['differs_in'])}" for d in diffs[:10]] + [""]
    if charts:
        out += ["## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in charts] + [""]
    return "\n".join(out)


def to_html(data: dict[str, Any], charts: list[str] | None = None) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Experiment report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
        "img{max-width:100%}</style></head><body><h1>Experiment report</h1>",
    ]
    parts += [f"<p>{html.escape(line).replace('**', '')}</p>" for line in _header(data)]
    for title, rows in _sections(data):
        parts += [f"<h2>{html.escape(title)}</h2>", _html_table(rows)]
    for c in charts or []:
        parts.append(f"<img src='{html.escape(Path(c).name)}' alt='{html.escape(Path(c).stem)}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 x 10^k) giving about ``ticks`` ticks from 0 to ``top``.

    >>> [nice_step(x) for x in (28.1, 140, 0.9, 0)]
    [10.0, 50.0, 0.2, 1.0]
    """
    if top <= 0:
        return 1.0
    raw = top / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return float(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw))


def figures(data: dict[str, Any]) -> dict[str, go.Figure]:
    """The report's charts: latency percentiles with CIs, throughput, phases, timeline."""
    names = list(data["per_config"])
    pc = data["per_config"]
    suffix = " (emulated latency)" if data.get("emulated") else ""
    lat = go.Figure()
    for q in ("p50", "p95", "p99"):
        vals = [pc[n][f"{q}_ms"] or 0 for n in names]
        cis = [pc[n].get(f"{q}_ci_ms") or [v, v] for n, v in zip(names, vals, strict=True)]
        lat.add_bar(
            name=q,
            x=names,
            y=vals,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [c[1] - v for c, v in zip(cis, vals, strict=True)],
                "arrayminus": [v - c[0] for c, v in zip(cis, vals, strict=True)],
            },
        )
    lat.update_layout(title="Latency percentiles (ms, 95% CI)" + suffix, barmode="group", yaxis_type="log")
    lat.update_yaxes(dtick=1, exponentformat="none")  # 0.1, 1, 10, 100: not 2-5-2-5 minor labels
    thr = go.Figure(go.Bar(x=names, y=[pc[n]["throughput"] for n in names]))
    thr.update_layout(title="Throughput (completed/s)" + suffix)
    ph = go.Figure()
    for phase in next(iter(pc.values()))["phases_mean_ms"]:
        ph.add_bar(name=phase, x=names, y=[pc[n]["phases_mean_ms"].get(phase) or 0 for n in names])
    ph.update_layout(title="Mean time per run by phase (ms)" + suffix, barmode="stack")
    tl = go.Figure()
    p95_max = max((e["p95_ms"] or 0 for es in data["timelines"].values() for e in es), default=0)
    for n, entries in data["timelines"].items():
        tl.add_scatter(
            name=f"{n} throughput", x=[e["t"] for e in entries], y=[e["throughput"] for e in entries]
        )
        tl.add_scatter(
            name=f"{n} p95 ms", x=[e["t"] for e in entries], y=[e["p95_ms"] for e in entries], yaxis="y2"
        )
    tl.update_layout(
        title="Per second (each configuration's own clock)" + suffix,
        xaxis_title="s",
        yaxis={"title": "completed/s", "rangemode": "tozero"},
        # Its own round ticks: synced to the left axis's gridlines they read 0.5 / 14.3 / 28.1.
        yaxis2={
            "title": "p95 ms",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tick0": 0,
            "dtick": nice_step(p95_max),
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.2},
    )
    return {"latency": lat, "throughput": thr, "phases": ph, "timeline": tl}


def write_report(data: dict[str, Any], out_dir: Path, *, charts: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``report.html`` and PNG charts into ``out_dir`` (blocking)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"json": out_dir / "report.json"}
    write_json(paths["json"], data)
    pngs: list[str] = []
    if charts:
        try:
            import plotly.io as pio

            figs = figures(data)
            files = [out_dir / f"{name}.png" for name in figs]
            pio.write_images(list(figs.values()), files, width=900, height=480)
            pngs = [str(f) for f in files]
        except Exception as exc:
            log.warning("charts not rendered (%s); the report has every number without them", exc)
    paths["markdown"] = out_dir / "report.md"
    paths["markdown"].write_text(to_markdown(data, pngs), encoding="utf-8")
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text(to_html(data, pngs), encoding="utf-8")
    for p in pngs:
        paths[Path(p).stem] = Path(p)
    return paths


ARCHIVE_SUFFIXES = (".md", ".html", ".json", ".png")


def archive(paths: Mapping[str, str | Path], folder: str = "report") -> bytes:
    """The report's files (Markdown, HTML, JSON and the PNGs they reference) as one zip.

    Files sit side by side under ``folder/`` so the Markdown's and HTML's image links resolve once
    unpacked. Missing files (charts that did not render) are left out.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted({Path(p) for p in paths.values()}, key=lambda p: (p.suffix != ".md", p.name)):
            if p.suffix in ARCHIVE_SUFFIXES and p.is_file():
                zf.write(p, f"{folder}/{p.name}")
    return buf.getvalue()
