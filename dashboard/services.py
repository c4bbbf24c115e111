"""The one place Streamlit meets core: the engine resource and thin calls the pages make.

``engine()`` builds one engine per server process (``st.cache_resource``) on its own loop thread;
nothing connects at import time. Every other function translates a page's request into engine or
core calls and returns plain values or core models. Pages never import ``core.engine`` themselves.
Row shaping lives in ``present``, figures in ``charts``, bursts and experiments in ``jobs``.

    result = services.ask("How do I run coroutines concurrently?", sources=["stdlib"], max_sources=5)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.config import EngineSettings, Settings
from core.engine_thread import EngineThread
from core.models import ResearchResult, RunRecord, RunStatus
from core.sources.registry import describe
from dashboard import present
from dashboard.authstore import AuthStore

log = logging.getLogger("researchops.dashboard")


# ---- the engine --------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """Process settings, read from the environment once per server process."""
    return Settings()


@st.cache_resource(show_spinner=False)
def auth_store() -> AuthStore:
    """Operator sessions and lockouts of this data dir (shared by every session and server)."""
    return AuthStore(settings().data_dir / "auth.sqlite")


@st.cache_resource(show_spinner="Starting the engine (the first start builds the search indexes)…")
def engine() -> EngineThread:
    """The server process's engine, created on first use and shared by every session."""
    from core.factory import build_components
    from core.gc_policy import tune_for_serving

    s = settings()
    thread = EngineThread.start(lambda: build_components(s, progress=log.info, role="dashboard"))
    # Streamlit runs a full collection after every rerun: freezing the engine's objects keeps
    # those from walking the indexes again each time (core.gc_policy).
    tune_for_serving()
    return thread


def clock(now: float | None = None) -> str:
    """Wall time with milliseconds, shown in live panels (and read by bench/ui.py to time refreshes)."""
    now = time.time() if now is None else now
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


# ---- research ----------------------------------------------------------------------------------
def source_names() -> list[str]:
    return [s["name"] for s in describe(engine().c.sources)]


def sources_info() -> list[dict[str, Any]]:
    return describe(engine().c.sources)


def ask(
    question: str, *, sources: Sequence[str] = (), max_sources: int = 10, timeout: float = 120.0
) -> ResearchResult:
    """Validate and run one question (raises InvalidInput naming the field, or Overloaded)."""
    eng = engine()
    query = eng.parse_query({"question": question, "max_sources": max_sources, "domains": tuple(sources)})
    return eng.run_sync(query, timeout=timeout)


def original_time(result: ResearchResult, query: dict[str, Any] | None = None) -> float | None:
    """How long the run that computed a cached answer took (seconds), or None when unknown.

    This process's records first (an uncached run of the same question, ``max_sources`` and
    sources); then the run store's first stored run of the question (a burst process or an earlier
    server may have computed it: the L2 cache is shared)."""
    eng = engine()
    want = query or {}
    for rec in reversed(eng.recent(500)):
        r = rec.result
        if r is None or r.cached or r.question != result.question:
            continue
        if want and (
            rec.query.max_sources != want.get("max_sources", rec.query.max_sources)
            or tuple(rec.query.domains) != tuple(want.get("domains", rec.query.domains))
        ):
            continue
        return r.processing_time_s
    if eng.c.store is not None:
        runs = eng.call_sync(eng.c.store.list_runs(text=result.question, status="ok", limit=100))
        same = [r for r in runs if r.question == result.question and r.duration_s is not None]
        if same:
            return same[-1].duration_s  # newest first: the last is the one that filled the cache
    return None


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
    return present.change_marks(settings_log())


def settings_changes() -> list[dict[str, Any]]:
    """The change log, newest first: version, time, preset and what changed from the version before."""
    return present.settings_change_rows(settings_log())


# ---- cache -------------------------------------------------------------------------------------
def purge_cache(*, node: str | None = None, question: str | None = None) -> int:
    """Purge all (no argument), one node's entries (``result`` = whole results) or one question's."""
    eng = engine()
    return int(eng.call_sync(eng.engine.purge_cache(node=node or None, question=question or None)))


def cache_stats() -> dict[str, Any] | None:
    """The tiered cache's counters and sizes (L2 size refreshed now); None when there is no cache."""
    eng = engine()
    if eng.c.cache is None:
        return None
    eng.call_sync(eng.c.cache.refresh_l2_size())
    return eng.c.cache.stats()  # type: ignore[no-any-return]


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
    from core.metrics.source import MetricsSource

    return MetricsSource.from_settings(settings(), engine().c.metrics)


def metrics_view(range_s: float = 300) -> Any:
    """One ``MetricsReading`` (every chart's series, ``origin`` = ``prometheus`` or ``process``)."""
    return metrics_source().read(range_s)


# ---- history -----------------------------------------------------------------------------------
def history(text: str = "", status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Past runs, newest first, from the run store when there is one, else this process's records."""
    eng = engine()
    store = eng.c.store
    status = status or None
    if store is not None:
        eng.call_sync(eng.engine.catch_up_events(force=False))  # a run asked a moment ago is listed
        runs = eng.call_sync(store.list_runs(text=text or None, status=status, limit=limit))
        return [r.model_dump() | {"origin": "store"} for r in runs]
    rows = []
    for rec in reversed(eng.recent(limit * 4)):
        if text and text.casefold() not in rec.query.question.casefold():
            continue
        if status and rec.status.value != status:
            continue
        rows.append(present.record_row(rec))
    return rows[:limit]


def run_detail(run_id: str) -> dict[str, Any]:
    """A run's events (from the store) and its record (if this process still has it)."""
    eng = engine()
    out: dict[str, Any] = {"events": [], "record": None}
    if eng.c.store is not None:
        eng.call_sync(eng.engine.catch_up_events(force=False))
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
        docs += [h.to_dict() | {"source": name} for h in found.hits]
    return docs


def run_benchmarks(number: int = 200) -> dict[str, list[dict[str, Any]]]:
    """Codec, validation and cache micro-benchmarks on this engine's real data and cache."""
    from core.load import microbench

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


# ---- experiments -------------------------------------------------------------------------------
def experiment_archive(exp_id: str, summary: dict[str, Any]) -> tuple[str, bytes] | None:
    """``(file name, zip bytes)`` of an experiment's report with its images, or None without one."""
    from core.load.report import archive

    paths = summary.get("report") or {}
    if not paths:
        return None
    return f"experiment-{exp_id}-report.zip", archive(paths, folder=f"experiment-{exp_id}")


def mode_changes(values: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``values`` that differs from the live settings (what a form submit changes)."""
    cur = engine().settings.model_dump()
    return {k: v for k, v in values.items() if cur.get(k) != v}


# ---- live metrics and load (H14a)
def metrics_reading(range_s: float = 300) -> Any:
    """``metrics_view`` computed at most once per wall-clock second and shared by every session
    (three operators on Metrics read the metrics files once a second, not three times)."""
    return _reading(float(range_s), int(time.time()))  # the second is part of the cache key


@st.cache_resource(max_entries=8, ttl=10, show_spinner=False)
def _reading(range_s: float, second: int) -> Any:
    return metrics_source().read(range_s)


def own_runs() -> dict[str, int]:
    """Runs by status recorded by this dashboard process alone (beside the all-process totals)."""
    return dict(engine().c.metrics.snapshot(series=False).runs)
