"""Tables for the Load and Metrics pages: burst timelines, summaries, listings and the merged
metrics view as pandas DataFrames (no Streamlit, no engine); whole seconds for charts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

PARTIAL_S = 0.5
"""A timeline entry covering less than this (the burst's last, cut-off second) is not charted:
its counts over a fraction of a second would read as a drop. Totals still include it."""


def full_seconds(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline entries to chart: whole seconds only, with ``errors_per_s`` / ``rejected_per_s``.

    >>> [r["t"] for r in full_seconds([{"t": 1, "span_s": 1.0}, {"t": 2, "span_s": 0.1}])]
    [1]
    """
    out = []
    for r in rows:
        span = float(r.get("span_s") or 1.0)
        if span < PARTIAL_S:
            continue
        out.append(
            {
                **r,
                "errors_per_s": (r.get("errors") or 0) / span,
                "rejected_per_s": (r.get("rejected") or 0) / span,
            }
        )
    return out


def burst_headline(rows: Sequence[dict[str, Any]], summary: dict[str, Any] | None) -> dict[str, Any]:
    """The Load page's headline: whole-burst totals and averages (from the summary once it ended,
    else from every timeline entry) and the last whole second (the chart's last point).

    >>> h = burst_headline([{"completed": 10, "span_s": 1.0, "throughput": 10.0}], None)
    >>> h["whole"]["throughput"], h["last"]["throughput"]
    (10.0, 10.0)
    """
    span = sum(float(r.get("span_s") or 1.0) for r in rows)
    completed = sum(int(r.get("completed") or 0) for r in rows)
    hits = sum((r.get("hit_rate") or 0.0) * int(r.get("completed") or 0) for r in rows)
    whole: dict[str, Any] = {
        "completed": completed,
        "errors": sum(int(r.get("errors") or 0) for r in rows),
        "rejected": sum(int(r.get("rejected") or 0) for r in rows),
        "coalesced": sum(int(r.get("coalesced") or 0) for r in rows),
        "throughput": completed / span if span else None,
        "hit_rate": hits / completed if completed else None,
        "p95_ms": None,
        "seconds": span,
        "exact": False,
    }
    if summary:
        for k in ("completed", "errors", "rejected", "throughput", "hit_rate", "p95_ms", "coalesced"):
            if summary.get(k) is not None:
                whole[k] = summary[k]
        whole["seconds"] = summary.get("elapsed_s", span)
        whole["exact"] = True
    full = full_seconds(rows)
    last = full[-1] if full else {}
    return {"whole": whole, "last": last, "in_flight": int((rows[-1] if rows else {}).get("in_flight") or 0)}


SUMMARY_FIELDS: tuple[tuple[str, str], ...] = (
    ("issued", "Issued"),
    ("completed", "Completed"),
    ("errors", "Errors"),
    ("rejected", "Rejected"),
    ("coalesced", "Coalesced"),
    ("throughput", "Throughput (runs/s)"),
    ("p50_ms", "p50 (ms)"),
    ("p95_ms", "p95 (ms)"),
    ("p99_ms", "p99 (ms)"),
    ("mean_ms", "Mean (ms)"),
    ("hit_rate", "Hit rate"),
    ("result_hit_rate", "Whole-result hits"),
    ("error_rate", "Error rate"),
    ("peak_rss_mb", "Peak memory (MiB)"),
    ("elapsed_s", "Elapsed (s)"),
    ("processes", "Processes"),
    ("emulated", "Emulated"),
)
"""The burst summary's columns (field, heading), in table order."""


def summary_frame(summaries: Sequence[tuple[str, dict[str, Any]]]) -> Any:
    """One row per burst (``[(burst id, summary)]``): the summary as a table, not a JSON blob."""
    rows = []
    for burst_id, s in summaries:
        row: dict[str, Any] = {"Burst": burst_id, "State": s.get("state")}
        for k, heading in SUMMARY_FIELDS:
            row[heading] = s.get(k)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.dropna(axis=1, how="all")


def timeline_frame(rows: Sequence[dict[str, Any]]) -> Any:
    """A burst's timeline as a DataFrame (every entry, partial last second included), for tables
    and CSV downloads."""
    frame = pd.DataFrame(list(rows))
    if "wall_time" in frame:
        frame.insert(1, "time", pd.to_datetime(frame["wall_time"], unit="s", utc=True).dt.tz_convert(None))
    return frame


def bursts_frame(bursts: Iterable[dict[str, Any]], kind: str = "burst") -> Any:
    """Stored bursts as a DataFrame: state, what they asked for, when, how long, headline figures."""
    rows = []
    for b in bursts:
        if b.get("kind", "burst") != kind:
            continue
        created, finished = b.get("created_at"), b.get("finished_at")
        started = b.get("running_at") or b.get("started_at")
        rows.append(
            {
                "id": b.get("id"),
                "state": b.get("state"),
                "label": b.get("label") or "",
                "target": b.get("target"),
                "load": _load_text(b),
                "launched": datetime.fromtimestamp(created) if isinstance(created, int | float) else None,
                "ran (s)": round(finished - started, 1)
                if isinstance(finished, int | float) and isinstance(started, int | float)
                else None,
                "completed": b.get("completed"),
                "throughput": b.get("throughput"),
                "p95_ms": b.get("p95_ms"),
                "hit_rate": b.get("hit_rate"),
                "error": (b.get("error") or "")[:200],
            }
        )
    return pd.DataFrame(rows)


def _load_text(b: dict[str, Any]) -> str:
    procs = b.get("processes")
    where = f" x {procs} processes" if procs else ""
    if b.get("mode") == "open":
        return f"open loop {b.get('rate', '?')}/s{where}"
    if b.get("users") is None:
        return ""
    return f"{b['users']:,} users{where}"


def overlay_rows(timelines: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Whole seconds of several bursts on one axis (seconds since each one's start), tagged ``burst``."""
    out = []
    for burst_id, rows in timelines:
        for r in full_seconds(rows):
            out.append({**r, "burst": burst_id})
    return out


def processes_frame(rows: Iterable[Any]) -> Any:
    """The merged metrics view's processes (``core.metrics.merged.ProcessRow``) as a table."""
    return pd.DataFrame(
        [
            {
                "process": p.label,
                "role": p.role,
                "pid": p.pid,
                "host": p.host,
                "alive": p.alive,
                "runs": int(p.runs),
                "memory (MiB)": None if p.rss_bytes is None else round(p.rss_bytes / 2**20, 1),
                "started": datetime.fromtimestamp(p.started_at),
                "last write": datetime.fromtimestamp(p.written_at),
            }
            for p in rows
        ]
    )


def node_latency_frame(snapshot: Any, estimates: dict[str, dict[str, float | None]]) -> Any:
    """Per node: this dashboard's exact p50/p95/p99 (raw window) beside every process's bucket
    estimates (what Prometheus would show), in ms."""
    ms = lambda x: None if x is None else x * 1000  # noqa: E731
    nodes = sorted({*snapshot.nodes, *estimates})
    rows = []
    for n in nodes:
        s = snapshot.nodes.get(n)
        e = estimates.get(n, {})
        rows.append(
            {
                "node": n,
                "runs (this dashboard)": s.count if s else 0,
                "p50 exact": ms(s.p50) if s else None,
                "p95 exact": ms(s.p95) if s else None,
                "p99 exact": ms(s.p99) if s else None,
                "runs (all processes, window)": int(e.get("count") or 0),
                "p50 est.": ms(e.get("p50")),
                "p95 est.": ms(e.get("p95")),
                "p99 est.": ms(e.get("p99")),
            }
        )
    return pd.DataFrame(rows)
