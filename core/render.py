"""Plain-text renderings of results and tables for the CLI (no logic beyond formatting)."""

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
