"""Pure text/table shaping for the pages (no Streamlit, no engine): citations, rows, labels."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

_CITE = re.compile(r"\[(\d+)\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}<>#|~$])")


def finding_anchor(n: int) -> str:
    """The HTML anchor of finding ``n`` (1-based)."""
    return f"finding-{n}"


def escape_md(text: str) -> str:
    """Escape Markdown so source text (docstrings, ``__dunder__`` names) shows literally."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def linked_summary(summary: str, n_findings: int) -> str:
    """The summary as Markdown with each valid ``[n]`` linking to its finding's anchor.

    >>> "](#finding-1)" in linked_summary("Use gather [1].", 1)
    True
    """
    text = escape_md(summary)

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f"[\\[{n}\\]](#{finding_anchor(n)})" if 1 <= n <= n_findings else m.group(0)

    return _CITE.sub(link, text)


def node_rows(timings: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "node": t.node,
            "start_ms": round(t.start_s * 1000, 2),
            "duration_ms": round(t.duration_s * 1000, 2),
            "cache_hit": t.cache_hit,
        }
        for t in timings
    ]


def settings_rows(modes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"setting": k, "value": "off" if v is None else str(v)} for k, v in modes.items()]


def change_marks(log: Sequence[tuple[float, Any]]) -> list[tuple[float, str]]:
    """``(unix_time, "vN preset")`` of every settings change after the first, for chart marks."""
    return [(t, f"v{s.version}" + (f" {s.preset}" if s.preset else "")) for t, s in log[1:]]


def settings_change_rows(log: Iterable[tuple[float, Any]]) -> list[dict[str, Any]]:
    """The settings log, newest first: version, time, preset and what changed from the version before."""
    rows, prev = [], None
    for t, s in log:
        modes = s.modes()
        diff = (
            {k: v for k, v in modes.items() if prev is None or prev.get(k) != v} if prev is not None else {}
        )
        rows.append(
            {
                "version": s.version,
                "at": time.strftime("%H:%M:%S", time.localtime(t)),
                "preset": s.preset or "custom",
                "changed": _fmt_diff(diff) if prev is not None else "(start)",
            }
        )
        prev = modes
    return rows[::-1]


def _fmt_diff(diff: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in diff.items()) or "(no change)"


def cache_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per level and namespace: hits, misses, hit rate, sets, errors, evictions."""
    rows = []
    for level in ("l1", "l2"):
        for ns, c in sorted(stats.get(level, {}).get("namespaces", {}).items()):
            looked = c.get("hits", 0) + c.get("misses", 0)
            rows.append(
                {
                    "level": level,
                    "namespace": ns,
                    **c,
                    "hit_rate": round(c.get("hits", 0) / looked, 3) if looked else None,
                }
            )
    return rows


def node_time(snapshot: Any) -> dict[str, float]:
    """Seconds spent in each node over the sample window (mean x samples)."""
    return {n: (s.mean or 0.0) * s.window for n, s in snapshot.nodes.items()}


def node_latency_rows(snapshot: Any) -> list[dict[str, Any]]:
    """Exact p50/p95/p99 (ms) per node over the raw window."""
    ms = lambda x: None if x is None else round(x * 1000, 2)  # noqa: E731
    return [
        {
            "node": n,
            "count": s.count,
            "p50_ms": ms(s.p50),
            "p95_ms": ms(s.p95),
            "p99_ms": ms(s.p99),
            "max_ms": ms(s.max),
        }
        for n, s in snapshot.nodes.items()
    ]


def phase_rows(snapshot: Any) -> dict[str, dict[str, float]]:
    """Share of time per phase for each settings version (``{"v3": {"llm": 0.6, ...}}``)."""
    out = {}
    for version, totals in sorted(snapshot.phases.items()):
        total = sum(totals.seconds.values()) or 1.0
        out[f"v{version} ({totals.runs} runs)"] = {k: v / total for k, v in totals.seconds.items()}
    return out


def record_row(rec: Any) -> dict[str, Any]:
    """A ``RunRecord`` of this process as a History row (the same columns the run store lists)."""
    return {
        "run_id": rec.run_id,
        "question": rec.query.question,
        "status": rec.status.value,
        "settings_version": rec.settings_version,
        "created_at": rec.created_at,
        "finished_at": rec.finished_at,
        "duration_s": rec.result.processing_time_s if rec.result else None,
        "origin": "memory",
    }


def burst_rows(bursts: Iterable[dict[str, Any]], kind: str = "burst") -> list[dict[str, Any]]:
    """Stored bursts (or experiments) of ``kind``: id, label, state and local wall-clock times."""
    keep = ("id", "label", "state", "created_at", "finished_at", "error")
    rows = [{k: b.get(k) for k in keep} for b in bursts if b.get("kind", "burst") == kind]
    for r in rows:  # unix seconds -> local wall-clock time a person can read
        for k in ("created_at", "finished_at"):
            if isinstance(t := r[k], int | float):
                r[k] = datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")
    return rows


def latency_profile(
    enabled: bool, median_ms: float, sigma: float, failure_rate: float
) -> dict[str, Any] | None:
    """An emulated latency profile from the form, as settings data (None = emulation off)."""
    if not enabled:
        return None
    return {"median_ms": float(median_ms), "sigma": float(sigma), "failure_rate": float(failure_rate)}


PUBLISHED_CLAIMS: list[dict[str, str]] = [
    {
        "topic": "orjson vs stdlib json",
        "claim (paraphrased)": "about 10x faster serialization and a few times "
        "faster deserialization than json on the README's sample documents",
        "source": "github.com/ijl/orjson (README)",
    },
    {
        "topic": "ormsgpack vs msgpack",
        "claim (paraphrased)": "faster than msgpack-python for packing and unpacking",
        "source": "github.com/aviramha/ormsgpack (README)",
    },
    {
        "topic": "Pydantic v2 validation",
        "claim (paraphrased)": "5-50x faster than Pydantic v1 (Rust core)",
        "source": "docs.pydantic.dev (v2 migration / why Pydantic)",
    },
    {
        "topic": "Redis reads",
        "claim (paraphrased)": "sub-millisecond latency for simple reads",
        "source": "redis.io (docs)",
    },
]
"""What the projects themselves publish, shown beside the figures measured on the Benchmarks page."""
