"""Pure text/table shaping for the pages (no Streamlit, no engine): rows, labels, messages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from core.models import MAX_SOURCES_MAX, MAX_SOURCES_MIN, QUESTION_MAX, QUESTION_MIN


def field_errors(errors: Iterable[dict[str, Any]], *, question: str = "") -> dict[str, str]:
    """InvalidInput items as ``{field: message}`` for the form, saying the limit in the user's terms.

    >>> field_errors([{"field": "question", "message": "String should have at most 500 characters"}],
    ...              question="x" * 812)["question"]
    'The question is 812 characters long; the limit is 500 characters. Shorten it and run again.'
    """
    out = {}
    for e in errors:
        field, message = str(e["field"]), str(e["message"])
        n = len(question.strip())
        if field == "question" and n > QUESTION_MAX:
            message = (
                f"The question is {n:,} characters long; the limit is {QUESTION_MAX} characters. "
                "Shorten it and run again."
            )
        elif field == "question" and n < QUESTION_MIN:
            message = f"The question needs at least {QUESTION_MIN} characters (it has {n})."
        elif field == "max_sources":
            message = f"Max sources must be between {MAX_SOURCES_MIN} and {MAX_SOURCES_MAX} ({message})."
        out[field] = message
    return out


def cache_note(processing_s: float, original_s: float | None, level: str | None) -> str:
    """What a whole-result cache hit saved: ``From cache (L1) in 0.1 ms; the original run took ...``.

    >>> cache_note(0.0001, 0.2, "l1")
    'From cache (L1) in 0.1 ms: the original run took 200 ms, so 200 ms saved.'
    """
    where = f" ({level.upper()})" if level else ""
    head = f"From cache{where} in {_ms(processing_s)}"
    if original_s is None:
        return head + " (the original run's time is not known here)."
    saved = _ms(max(original_s - processing_s, 0.0))
    return f"{head}: the original run took {_ms(original_s)}, so {saved} saved."


def latency(ms: float | None) -> str:
    """A latency short enough for a narrow metric tile (six characters at most): ``250 µs``,
    ``2.5 ms``, ``850 ms``, ``1.6 s``; ``–`` for none.

    >>> [latency(0.25), latency(2.54), latency(850.4), latency(1556.5), latency(40_210.0), latency(None)]
    ['250 µs', '2.5 ms', '850 ms', '1.6 s', '40.2 s', '–']
    """
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 10_000:
        return f"{seconds:.1f} s"
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def cache_level(timings: Sequence[Any]) -> str | None:
    """The level a whole-result hit came from (``result_cache[l1]`` -> ``l1``), else None."""
    for t in timings:
        if m := re.fullmatch(r"result_cache\[(\w+)\]", t.node):
            return m.group(1)
    return None


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


CACHE_COLUMNS = ("level", "namespace", "hits", "misses", "hit_rate", "sets", "errors", "evictions", "corrupt")


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


def cache_panel(stats: dict[str, Any], mode: str, live_codec: str) -> dict[str, str]:
    """The Cache panel's headline: the modes in force, not just what the cache object was built with.

    Under ``cache=l1`` (or ``off``) the L2 backend still exists but no run reads or writes it, so
    it says so; L2 always stores ormsgpack whatever the live codec, because its bytes are shared
    with other processes and must decode to plain data only (the live codec, e.g. ``pickle``,
    applies to state copies and checkpoints).

    >>> cache_panel({"codec": "ormsgpack", "l2_backend": "sqlite", "l1": {}, "l2": {"size": 56}},
    ...             "l1", "orjson")["l2"]
    'off'
    """
    backend = stats.get("l2_backend")
    l2_on = mode == "l1+l2" and bool(backend)
    size = stats.get("l2", {}).get("size")
    l1 = stats.get("l1", {})
    if mode == "off":
        mode_help = "No run reads or writes the cache."
    elif mode == "l1":
        mode_help = "Runs use this process's memory cache (L1) only."
    else:
        mode_help = "Runs read L1, then L2 (shared by every process on this data dir / Redis)."
    return {
        "mode": mode,
        "mode_help": mode_help,
        "l2": str(backend) if l2_on else "off",
        "l2_label": "L2 (in use)" if l2_on else f"L2 (off under cache={mode})" if backend else "L2 (none)",
        "l2_help": f"Backend configured for this process: {backend or 'none'}.",
        "l2_codec": str(stats.get("codec") or "?"),
        "l2_codec_help": (
            "L2 always stores ormsgpack: its bytes are shared between processes (and machines, with "
            "Redis), so they must decode to plain data only, whatever the live codec. "
            f"The live codec ({live_codec}) applies to state copies and checkpoints."
        ),
        "l1_entries": f"{l1.get('size', 0):,}",
        "l1_mib": f"{l1.get('bytes', 0) / 2**20:.1f} MiB",
        "l2_entries": "?" if size is None else f"{size:,}",
        "l2_entries_label": "L2 entries" + ("" if l2_on else " (unused)"),
        "l2_entries_help": "Entries stored in L2"
        + ("" if l2_on else f"; not read or written while cache={mode}")
        + ".",
        "note": (
            f"Live codec **{live_codec}** (state copies, checkpoints) · L2 codec **{stats.get('codec')}** "
            "(fixed, shared-store safety)" + ("" if l2_on else f" · L2 is **not in use** under cache={mode}")
        ),
    }


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
    rows = [
        {k: b.get(k) for k in keep} | {"created_at": b.get("created_at") or b.get("started_at")}
        for b in bursts
        if b.get("kind", "burst") == kind
    ]  # the process rewrites status.json with ``started_at``: the job's creation time is not in it
    for r in rows:  # unix seconds -> local wall-clock time a person can read ("–" = not known yet)
        for k in ("created_at", "finished_at"):
            t = r[k]
            r[k] = _stamp(t)
        r["error"] = r["error"] or ""
    return rows


def _stamp(t: Any) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if isinstance(t, int | float) else "–"


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
