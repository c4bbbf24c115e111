"""Load bursts and experiments for the pages: each runs in its own process (``core.load``).

The burst manager is one per server process (``st.cache_resource``); these functions translate a
page's form into a spec, start it, and read back its status, timeline and report.

    burst_id = jobs.start_burst(users=20, duration_s=30)
    jobs.burst_view(burst_id)["state"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import ValidationError

from core.errors import InvalidInput
from dashboard import present, services

LOAD_UNAVAILABLE = "The load runner (core.load) is not available in this build, so bursts cannot run here."


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
    s = services.settings()
    return None if mod is None else mod.BurstManager(s.data_dir, process_settings=s)


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
    from core.load.spec import build_spec

    return build_spec(
        users=users,
        duration_s=duration_s,
        think_time_s=think_time_s,
        mix=_mix(mix, zipf_s, pool),
        preset=preset or None,
        settings=services.current_settings(),
        label=label,
        drain_s=5.0,
    )


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
    return [(t, label) for t, label in services.change_marks() if t >= start]


def burst_figure(burst_id: str, rows: list[dict[str, Any]], marks: list[tuple[float, str]]) -> Any:
    """The burst's metrics as one figure, built once per new timeline second and shared by every
    session watching the burst (ten viewers would otherwise build it ten times a second)."""
    return _burst_figure(burst_id, len(rows), tuple(marks), rows)


@st.cache_resource(max_entries=64, ttl=600, show_spinner=False)
def _burst_figure(burst_id: str, n: int, marks: tuple[tuple[float, str], ...],
                  _rows: list[dict[str, Any]]) -> Any:  # fmt: skip
    from dashboard import charts

    return charts.timeline_panel(_rows, charts.BURST_CHARTS, marks)


def cancel_burst(burst_id: str) -> dict[str, Any]:
    return dict(burst_manager().cancel(burst_id, grace_s=5.0))  # type: ignore[union-attr]


def past_bursts(kind: str = "burst") -> list[dict[str, Any]]:
    """Stored bursts (or experiments), newest first: id, label, state, when."""
    mgr = burst_manager()
    return [] if mgr is None else present.burst_rows(mgr.list(), kind)


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
