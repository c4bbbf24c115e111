"""Plain-text renderings for the CLI: results, tables, burst timelines and summaries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.models import ResearchResult


def result_text(result: ResearchResult) -> str:
    """A result as a human reads it in a terminal: summary, findings, how it was produced."""
    lines = [result.summary, ""]
    for i, f in enumerate(result.findings, 1):
        lines.append(f"[{i}] {f.title}  ({f.source}, relevance {f.relevance:.2f})")
        lines.append(f"    {f.location}")
    lines.append("")
    ms = result.processing_time_s * 1000
    status = f"status {result.status.value}, confidence {result.confidence:.2f}, {ms:.1f} ms"
    if result.cached:
        status += ", from the result cache"
    if result.emulated:
        status += ", EMULATED latency included"
    lines.append(status)
    for failed in result.failed_sources:
        lines.append(f"source {failed.source} failed ({failed.kind}): {failed.reason}")
    if result.timings:
        lines.append(
            "nodes: "
            + ", ".join(
                f"{t.node} {'cache hit' if t.cache_hit else f'{t.duration_s * 1000:.1f} ms'}"
                for t in result.timings
            )
        )
    return "\n".join(lines)


def table(rows: Sequence[dict[str, Any]], columns: Iterable[str] | None = None) -> str:
    """A fixed-width text table.

    >>> print(table([{"a": 1, "b": "x"}]))
    a  b
    1  x
    """
    if not rows:
        return "(none)"
    cols = list(columns or rows[0].keys())
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def timeline_line(e: dict[str, Any]) -> str:
    """One entry of a burst's live timeline as one terminal line."""

    def ms(x: Any) -> str:
        return "-" if x is None else f"{x:.1f}"

    who = f"[{e['config']}] " if "config" in e else ""
    users = f" users {e['users']:>5}" if "users" in e else (f" rate {e['rate']:g}/s" if "rate" in e else "")
    hit = "-" if e.get("hit_rate") is None else f"{e['hit_rate']:.0%}"
    return (
        f"{who}{e.get('config_t', e['t']):>4}s {e['phase']:<5}{users}  thr {e['throughput']:8.1f}/s  "
        f"p50 {ms(e['p50_ms'])}  p95 {ms(e['p95_ms'])}  p99 {ms(e['p99_ms'])} ms  err {e['errors']}  "
        f"rej {e['rejected']}  inflight {e['in_flight']}  hit {hit}  rss {e['rss_mb']:.0f} MB"
    )


def summary_text(s: dict[str, Any]) -> str:
    """A burst's summary as an indented block (the end of ``researchops load``)."""
    keys = [
        "state",
        "issued",
        "completed",
        "errors",
        "cancelled",
        "rejected",
        "throughput",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "error_rate",
        "hit_rate",
        "peak_rss_mb",
        "emulated",
        "elapsed_s",
    ]
    lines = [f"  {k:<12} {s[k]}" for k in keys if k in s]
    if s.get("emulated"):
        lines.append("  (latency in this run was EMULATED)")
    if s.get("locust"):
        lines.append(f"  locust totals: {s['locust']}")
    return "summary:\n" + "\n".join(lines)
