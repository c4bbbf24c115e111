"""The one place Streamlit meets core: the engine resource and thin calls the pages make.

``engine()`` builds one engine per server process (``st.cache_resource``) on its own loop thread;
nothing connects at import time. Every other function translates a page's request into engine or
core calls and returns plain values or core models. Pages never import ``core.engine`` themselves.

    result = services.ask("How do I run coroutines concurrently?", sources=["stdlib"], max_sources=5)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import ValidationError

from core.config import EngineSettings, Settings
from core.engine import Engine
from core.errors import InvalidInput
from core.models import ResearchResult, RunRecord, RunStatus

log = logging.getLogger("researchops.dashboard")
LOAD_UNAVAILABLE = "The load runner (core.load) is not available in this build, so bursts cannot run here."


# ---- the engine --------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """Process settings, read from the environment once per server process."""
    return Settings()


@st.cache_resource(show_spinner="Starting the engine (the first start builds the search indexes)…")
def engine() -> Engine:
    """The server process's engine, created on first use and shared by every session."""
    from core.factory import build_components

    s = settings()
    return Engine.start_in_thread(lambda: build_components(s, progress=log.info))


def clock(now: float | None = None) -> str:
    """Wall time with milliseconds, shown in live panels (and read by bench/ui.py to time refreshes)."""
    now = time.time() if now is None else now
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


# ---- research ----------------------------------------------------------------------------------
def source_names() -> list[str]:
    return [s["name"] for s in engine().sources_info()]


def sources_info() -> list[dict[str, Any]]:
    return engine().sources_info()


def ask(
    question: str, *, sources: Sequence[str] = (), max_sources: int = 10, timeout: float = 120.0
) -> ResearchResult:
    """Validate and run one question (raises InvalidInput naming the field, or Overloaded)."""
    eng = engine()
    query = eng.parse_query({"question": question, "max_sources": max_sources, "domains": tuple(sources)})
    return eng.run_sync(query, timeout=timeout)


def recent_runs(n: int = 50) -> list[RunRecord]:
    """This process's most recent runs, newest first."""
    return list(reversed(engine().recent(n)))


# ---- live settings -----------------------------------------------------------------------------
def current_settings() -> EngineSettings:
    return engine().settings


def update_settings(**changes: Any) -> EngineSettings:
    """Apply a preset (``preset=``) or mode changes; returns the new version (raises InvalidInput)."""
    return engine().update_settings(**changes)


def settings_log() -> list[tuple[float, EngineSettings]]:
    return list(engine().settings_log)


def change_marks() -> list[tuple[float, str]]:
    """``(unix_time, "vN preset")`` of every settings change after the first, for chart marks."""
    return [(t, f"v{s.version}" + (f" {s.preset}" if s.preset else "")) for t, s in settings_log()[1:]]


def settings_changes() -> list[dict[str, Any]]:
    """The change log, newest first: version, time, preset and what changed from the version before."""
    rows, prev = [], None
    for t, s in settings_log():
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


# ---- cache -------------------------------------------------------------------------------------
def purge_cache(*, node: str | None = None, question: str | None = None) -> int:
    """Purge all (no argument), one node's entries (``result`` = whole results) or one question's."""
    eng = engine()
    return int(eng.call_sync(eng.purge_cache(node=node or None, question=question or None)))


def cache_stats() -> dict[str, Any] | None:
    """The tiered cache's counters and sizes (L2 size refreshed now); None when there is no cache."""
    eng = engine()
    if eng.c.cache is None:
        return None
    eng.call_sync(eng.c.cache.refresh_l2_size())
    return eng.c.cache.stats()  # type: ignore[no-any-return]


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


def cache_nodes() -> list[str]:
    from core.workflow.graph import NODES

    return ["result", *NODES]


# ---- metrics -----------------------------------------------------------------------------------
def metrics_snapshot() -> Any:
    """The in-process ``MetricsSnapshot`` (percentiles, per-second series, phases)."""
    return engine().c.metrics.snapshot()


@st.cache_resource(show_spinner=False)
def metrics_source() -> Any:
    """Prometheus when ``PROMETHEUS_URL`` is set and reachable, else this process's metrics."""
    from core.promclient import MetricsSource

    return MetricsSource.from_settings(settings(), engine().c.metrics)


def metrics_view(range_s: float = 300) -> Any:
    """One ``MetricsReading`` (every chart's series, ``origin`` = ``prometheus`` or ``process``)."""
    return metrics_source().read(range_s)


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


# ---- history -----------------------------------------------------------------------------------
def history(text: str = "", status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Past runs, newest first, from the run store when there is one, else this process's records."""
    eng = engine()
    store = eng.c.store
    status = status or None
    if store is not None:
        runs = eng.call_sync(store.list_runs(text=text or None, status=status, limit=limit))
        return [r.model_dump() | {"origin": "store"} for r in runs]
    rows = []
    for rec in reversed(eng.recent(limit * 4)):
        if text and text.casefold() not in rec.query.question.casefold():
            continue
        if status and rec.status.value != status:
            continue
        rows.append(
            {
                "run_id": rec.run_id,
                "question": rec.query.question,
                "status": rec.status.value,
                "settings_version": rec.settings_version,
                "created_at": rec.created_at,
                "finished_at": rec.finished_at,
                "duration_s": rec.result.processing_time_s if rec.result else None,
                "origin": "memory",
            }
        )
    return rows[:limit]


def run_detail(run_id: str) -> dict[str, Any]:
    """A run's events (from the store) and its record (if this process still has it)."""
    eng = engine()
    out: dict[str, Any] = {"events": [], "record": None}
    if eng.c.store is not None:
        try:
            out["events"] = [e.model_dump(mode="json") for e in eng.call_sync(eng.c.store.events(run_id))]
        except LookupError:
            pass
    try:
        out["record"] = eng.get_record(run_id)
    except LookupError:
        pass
    return out


RUN_STATUSES = [s.value for s in RunStatus]


# ---- load bursts and experiments (core.load: each runs in its own process) ---------------------
def _load() -> Any | None:
    try:
        import core.load.bursts as bursts
    except ImportError:
        return None
    return bursts


@st.cache_resource(show_spinner=False)
def burst_manager() -> Any | None:
    """The burst manager over the data dir, or None when the load runner is not installed."""
    mod = _load()
    return None if mod is None else mod.BurstManager(settings().data_dir, process_settings=settings())


def _mix(mix: str, zipf_s: float, pool: int) -> str:
    return f"zipf:{zipf_s:g}:{pool}" if mix == "zipf" else f"uniform:{pool}"


def burst_spec(
    *,
    users: int,
    duration_s: float,
    think_time_s: float = 0.0,
    mix: str = "zipf",
    zipf_s: float = 1.1,
    pool: int = 1000,
    preset: str | None = None,
    label: str = "",
) -> Any:
    """A ``BurstSpec`` from the form, running under the live settings (plus an optional preset)."""
    from core.load.spec import BurstSpec

    try:
        return BurstSpec(
            users=users,
            duration_s=duration_s,
            think_time_s=think_time_s,
            mix=_mix(mix, zipf_s, pool),
            preset=preset or None,
            settings=engine().settings,
            label=label,
            drain_s=5.0,
        )
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None


def start_burst(**spec: Any) -> str:
    """Start a burst in a separate process; returns its id (raises InvalidInput on a bad spec)."""
    mgr = burst_manager()
    if mgr is None:
        raise InvalidInput([{"field": "load", "message": LOAD_UNAVAILABLE}])
    return str(mgr.start(burst_spec(**spec)))


def burst_view(burst_id: str) -> dict[str, Any]:
    """A burst's status (``state``, ``finished``, ``error``, ``summary`` once finished)."""
    from core.load.bursts import FINAL_STATES

    mgr = burst_manager()
    status = dict(mgr.status(burst_id))  # type: ignore[union-attr]
    status["finished"] = status["state"] in FINAL_STATES
    if status["finished"]:
        status["summary"] = mgr.summary(burst_id)  # type: ignore[union-attr]
    spec = mgr.spec(burst_id)  # type: ignore[union-attr]
    status["emulated"] = bool(
        spec.get("emulate_model")
        or (spec.get("settings") or {}).get("model_latency")
        or (spec.get("settings") or {}).get("source_latency")
    )
    return status


def burst_timeline(burst_id: str, since: int = 0) -> list[dict[str, Any]]:
    """Timeline entries (one per second) the burst process has written so far."""
    return list(burst_manager().timeline(burst_id, since))  # type: ignore[union-attr]


def burst_marks(status: dict[str, Any]) -> list[tuple[float, str]]:
    """Settings changes made in this process during a burst, for its charts."""
    start = float(status.get("created_at") or 0.0)
    return [(t, label) for t, label in change_marks() if t >= start]


BURST_CHARTS: tuple[tuple[str, tuple[str, ...], str, str, float], ...] = (
    ("throughput", ("throughput",), "Throughput", "runs/s", 1.0),
    ("latency", ("p50_ms", "p95_ms", "p99_ms"), "Latency", "ms", 1.0),
    ("errors", ("errors",), "Errors", "per s", 1.0),
    ("rejected", ("rejected",), "Rejected (overloaded)", "per s", 1.0),
    ("in_flight", ("in_flight",), "In flight", "runs", 1.0),
    ("hit_rate", ("hit_rate",), "Cache hit rate", "%", 100.0),
    ("memory", ("rss_mb",), "Memory (burst process)", "MiB", 1.0),
)


def burst_figure(burst_id: str, rows: list[dict[str, Any]], marks: list[tuple[float, str]]) -> Any:
    """The burst's metrics as one figure, built once per new timeline second and shared by every
    session watching the burst (ten viewers would otherwise build it ten times a second)."""
    return _burst_figure(burst_id, len(rows), tuple(marks), rows)


@st.cache_resource(max_entries=64, ttl=600, show_spinner=False)
def _burst_figure(burst_id: str, n: int, marks: tuple[tuple[float, str], ...],
                  _rows: list[dict[str, Any]]) -> Any:  # fmt: skip
    from dashboard import charts

    return charts.timeline_panel(_rows, BURST_CHARTS, marks)


def cancel_burst(burst_id: str) -> dict[str, Any]:
    return dict(burst_manager().cancel(burst_id, grace_s=5.0))  # type: ignore[union-attr]


def past_bursts(kind: str = "burst") -> list[dict[str, Any]]:
    """Stored bursts (or experiments), newest first: id, label, state, when."""
    mgr = burst_manager()
    if mgr is None:
        return []
    keep = ("id", "label", "state", "created_at", "finished_at", "error")
    rows = [{k: b.get(k) for k in keep} for b in mgr.list() if b.get("kind", "burst") == kind]
    for r in rows:  # unix seconds -> local wall-clock time a person can read
        for k in ("created_at", "finished_at"):
            if isinstance(r[k], int | float):
                r[k] = datetime.fromtimestamp(r[k]).strftime("%Y-%m-%d %H:%M:%S")
    return rows


def experiments_available() -> bool:
    try:
        import core.load.experiment  # noqa: F401
    except ImportError:
        return False
    return burst_manager() is not None


def start_experiment(
    configs: list[str],
    *,
    users: int,
    duration_s: float,
    think_time_s: float = 0.0,
    mix: str = "zipf",
    zipf_s: float = 1.1,
    pool: int = 200,
    rounds: int = 2,
    purge_cache: bool = True,
    label: str = "",
) -> str:
    """Run ``configs`` (``"naive"``, ``"optimized+cache=off"``...) under one workload in its own process."""
    from core.load.experiment import ExperimentSpec

    load = burst_spec(
        users=users,
        duration_s=duration_s,
        think_time_s=think_time_s,
        mix=mix,
        zipf_s=zipf_s,
        pool=pool,
        label=label,
    )
    try:
        spec = ExperimentSpec.from_names(configs, load, rounds=rounds, purge_cache=purge_cache, label=label)
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None
    return str(burst_manager().start_experiment(spec))  # type: ignore[union-attr]


def experiment_rows(summary: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Tables for the page: per-configuration numbers, ratios vs the baseline, answer equivalence."""
    from core.load import report

    return {
        "summary": report.summary_rows(summary),
        "ratios": report.ratio_rows(summary),
        "nodes": report.node_rows(summary),
        "phases": report.phase_rows(summary),
    }


def experiment_figures(burst_id: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The report's figures (latency with CIs, throughput, phases, per-second timeline)."""
    from core.load import report

    timelines: dict[str, list[dict[str, Any]]] = {}
    for entry in burst_timeline(burst_id):
        timelines.setdefault(str(entry.get("config", "")), []).append(
            {**entry, "t": entry.get("config_t", entry["t"])}
        )
    return report.figures({**summary, "timelines": timelines})


def report_files(summary: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """``(file name, bytes, mime)`` of the experiment's report files, for download buttons."""
    mime = {".md": "text/markdown", ".html": "text/html", ".json": "application/json"}
    out = []
    for path in (summary.get("report") or {}).values():
        p = Path(path)
        if p.suffix in mime and p.exists():
            out.append((p.name, p.read_bytes(), mime[p.suffix]))
    return out


# ---- micro-benchmarks --------------------------------------------------------------------------
def benchmark_sample() -> dict[str, Any]:
    """A real payload to benchmark: the latest result this engine produced (or a fresh one)."""
    for rec in reversed(engine().recent(200)):
        if rec.result is not None and rec.result.findings:
            return rec.result.model_dump(mode="json")
    return ask("How do I run coroutines concurrently and wait for all of them?").model_dump(mode="json")


def benchmark_documents(k: int = 50) -> list[dict[str, Any]]:
    """Real source documents (top ``k`` of each source for a sample question), as the graph sees them."""
    eng = engine()
    docs = []
    for name, src in eng.c.sources.items():
        found = eng.call_sync(src.search("run coroutines concurrently and wait", k))
        hits = getattr(found, "hits", found)  # resilient sources wrap their hits in a SearchOutcome
        docs += [h.to_dict() | {"source": name} for h in hits]
    return docs


def run_benchmarks(number: int = 200) -> dict[str, list[dict[str, Any]]]:
    """Codec, validation and cache micro-benchmarks on this engine's real data and cache."""
    from core import microbench

    eng = engine()
    sample = benchmark_sample()
    out = {
        "codecs": microbench.codec_rows(sample, number=number),
        "validation": microbench.validation_rows(benchmark_documents(), number=max(number // 4, 10)),
    }
    out["cache"] = (
        eng.call_sync(microbench.cache_rows(eng.c.cache, sample, number=number)) if eng.c.cache else []
    )
    return out


def mode_changes(values: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``values`` that differs from the live settings (what a form submit changes)."""
    cur = engine().settings.model_dump()
    return {k: v for k, v in values.items() if cur.get(k) != v}


def latency_profile(
    enabled: bool, median_ms: float, sigma: float, failure_rate: float
) -> dict[str, Any] | None:
    """An emulated latency profile as settings data (None = emulation off)."""
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
