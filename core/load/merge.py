"""Merging the timelines and summaries of a burst's processes into one (counts exact, HDR percentiles).

Each process of a multi-process burst writes per-second entries with an encoded HdrHistogram of
that second's latencies (``core.load.timeline``, ``hdr=True``). Entries with the same ``t`` are
merged by summing counts and adding histograms, so counts are exact and p50/p95/p99 are those of
the union of every process's latencies to HdrHistogram's precision: 3 significant digits (a value
is off by at most 0.1%), nearest-rank percentiles.

    merged = merge_entries([entry_from_process_0, entry_from_process_1])
    summary = merge_summaries([summary_0, summary_1])
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram

from core.load.timeline import HDR_DIGITS, new_hdr

PRECISION = f"HdrHistogram, {HDR_DIGITS} significant digits (within 0.1%), merged across processes"
_SUM_KEYS = ("issued", "completed", "errors", "rejected", "hits", "cached", "coalesced", "in_flight")
_SUM_GAUGES = ("users", "rate")


def _hist(items: list[dict[str, Any]]) -> HdrHistogram:
    total = new_hdr()
    for item in items:
        if item.get("hdr"):
            total.add(HdrHistogram.decode(item["hdr"]))
    return total


def _pcts_ms(h: HdrHistogram) -> tuple[float | None, float | None, float | None]:
    if h.get_total_count() == 0:
        return None, None, None
    p50, p95, p99 = (h.get_value_at_percentile(q) / 1000.0 for q in (50, 95, 99))
    return round(p50, 3), round(p95, 3), round(p99, 3)


def merge_entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One timeline entry from the same second of several processes (keys as a single process's).

    >>> a = {"t": 1, "span_s": 1.0, "issued": 2, "completed": 1, "errors": 0, "rejected": 1}
    >>> merge_entries([a, {**a, "completed": 2, "rejected": 0}])["completed"]
    3
    """
    first = entries[0]
    out: dict[str, Any] = {
        "t": first["t"],
        "wall_time": max(e.get("wall_time", 0.0) for e in entries),
        "span_s": max(e.get("span_s", 1.0) for e in entries),
        "phase": "drain" if any(e.get("phase") == "drain" for e in entries) else first.get("phase", "run"),
    }
    for key in _SUM_KEYS:
        out[key] = sum(int(e.get(key) or 0) for e in entries)
    span = max(out["span_s"], 1e-9)
    out["throughput"] = round(out["completed"] / span, 3)
    out["p50_ms"], out["p95_ms"], out["p99_ms"] = _pcts_ms(_hist(entries))
    out["hit_rate"] = round(out["hits"] / out["completed"], 4) if out["completed"] else None
    out["rss_mb"] = round(sum(e.get("rss_mb") or 0.0 for e in entries), 1)
    for key in _SUM_GAUGES:
        if any(key in e for e in entries):
            out[key] = sum(e.get(key) or 0 for e in entries)
    versions = [e["settings_version"] for e in entries if "settings_version" in e]
    if versions:
        out["settings_version"] = max(versions)
    out["processes"] = len(entries)
    return out


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One run summary from the summaries of every process (counts summed exactly).

    >>> s = {"issued": 3, "completed": 2, "errors": 1, "rejected": 0, "cancelled": 1, "elapsed_s": 1.0}
    >>> merge_summaries([s, s])["issued"]
    6
    """
    first = summaries[0]
    out: dict[str, Any] = dict(first)
    out.pop("hdr", None)
    for key in ("issued", "completed", "errors", "cancelled", "rejected", "in_flight", "hits", "result_hits"):
        out[key] = sum(int(s.get(key) or 0) for s in summaries)
    out["coalesced"] = sum(int(s.get("coalesced") or 0) for s in summaries)
    elapsed = max(max(float(s.get("elapsed_s") or 0.0) for s in summaries), 1e-9)
    out["elapsed_s"] = round(elapsed, 3)
    out["throughput"] = round(out["completed"] / elapsed, 3)
    out["p50_ms"], out["p95_ms"], out["p99_ms"] = _pcts_ms(_hist(summaries))
    weighted = sum((s.get("mean_ms") or 0.0) * int(s.get("completed") or 0) for s in summaries)
    out["mean_ms"] = round(weighted / out["completed"], 3) if out["completed"] else None
    out["error_rate"] = round(out["errors"] / out["issued"], 4) if out["issued"] else 0.0
    done = out["completed"]
    out["hit_rate"] = round(out["hits"] / done, 4) if done else None
    out["result_hit_rate"] = round(out["result_hits"] / done, 4) if done else None
    # each process's own peak, summed: an upper bound of the burst's peak (peaks need not coincide)
    out["peak_rss_mb"] = round(sum(s.get("peak_rss_mb") or 0.0 for s in summaries), 1)
    out["cpu_s"] = round(sum(float(s.get("cpu_s") or 0.0) for s in summaries), 3)
    out["emulated"] = any(s.get("emulated") for s in summaries)
    out["stopped_early"] = any(s.get("stopped_early") for s in summaries)
    errors: Counter[str] = Counter()
    for s in summaries:
        errors.update(s.get("top_errors") or {})
    out["top_errors"] = dict(errors.most_common(5))
    out["started_at"] = min(s.get("started_at") or 0.0 for s in summaries)
    if "users" in first and first["users"] is not None:
        out["users"] = sum(int(s.get("users") or 0) for s in summaries)
    caches = [s["cache"] for s in summaries if s.get("cache")]
    if caches:
        out["cache"] = _sum_nested(caches)
    out["processes"] = len(summaries)
    out["percentiles"] = PRECISION
    out["per_process"] = [
        {k: s.get(k) for k in ("issued", "completed", "errors", "rejected", "throughput", "p95_ms")}
        for s in summaries
    ]
    return out


def _sum_nested(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            if isinstance(value, dict):
                out[key] = _sum_nested([out.get(key, {}), value])
            elif isinstance(value, int | float) and not isinstance(value, bool) and "rate" not in key:
                # counts add up; ratios (hit_rate) do not, and are left out
                out[key] = out.get(key, 0) + value
    return out
