"""Load bursts and experiments for the pages: each runs in its own process (``core.load``).

The burst manager is one per server process (``st.cache_resource``); these functions translate a
page's form into a spec, start it, and read back its status, timeline and report. Timelines are
read incrementally and shared by every session watching a burst; figures are built once per new
timeline second, not once per viewer.

    burst_id = jobs.start_burst(users=20, duration_s=30)
    jobs.burst_view(burst_id)["state"]
"""

from __future__ import annotations

import threading
import time
import typing
from pathlib import Path
from typing import Any

import orjson
import psutil
import streamlit as st
from pydantic import ValidationError

from core.errors import InvalidInput
from dashboard import frames, present, services

LOAD_UNAVAILABLE = "The load runner (core.load) is not available in this build, so bursts cannot run here."
MAX_USERS = 20_000
"""The Load page's users cap (the engine pool carries 10,000 and beyond: issue 12)."""
BURST_NICE = 5
"""Burst processes run this much nicer than the dashboard, so live panels stay live under load."""


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
    if mod is None:
        return None
    from core.load.spec import BurstCaps

    s = services.settings()
    caps = BurstCaps(max_users=max(MAX_USERS, BurstCaps().max_users))
    return mod.BurstManager(s.data_dir, caps, process_settings=s, nice=BURST_NICE)


def _spec_fields() -> dict[str, Any]:
    from core.load.spec import BurstSpec

    return dict(BurstSpec.model_fields)


def target_choices() -> list[str]:
    """The burst targets this build supports (``engine``, ``workers``, ``http``), read off the spec."""
    field = _spec_fields().get("target")
    args = typing.get_args(field.annotation) if field is not None else ()
    return [str(a) for a in args] or ["engine"]


def supports_processes() -> bool:
    """Whether bursts can spread over several processes (``BurstSpec.processes``)."""
    return "processes" in _spec_fields()


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
    mode: str = "closed",
    ramp_up_s: float = 0.0,
    think: str = "constant",
    rate: float | None = None,
    rate_steps: str = "",
    arrivals: str = "poisson",
    target: str = "engine",
    http_url: str | None = None,
    processes: int | None = None,
    model_ms: float | None = None,
) -> Any:
    """A ``BurstSpec`` from the form, running under the live settings (plus an optional preset).

    ``processes`` 0 or None = one per core; ``model_ms`` emulates model latency (labelled EMULATED).
    """
    from core.load.spec import build_spec, parse_rate_steps

    fields: dict[str, Any] = {
        "users": users,
        "duration_s": duration_s,
        "think_time_s": think_time_s,
        "mix": _mix(mix, zipf_s, pool),
        "preset": preset or None,
        "settings": services.current_settings(),
        "label": label,
        "drain_s": 5.0,
        "mode": mode,
        "ramp_up_s": ramp_up_s,
        "think": think,
        "arrivals": arrivals,
        "target": target,
    }
    if rate is not None:
        fields["rate"] = rate
    if rate_steps.strip():
        fields["rate_steps"] = parse_rate_steps(rate_steps.strip())
    if http_url:
        fields["http_url"] = http_url
    if processes and supports_processes():
        fields["processes"] = processes
    return build_spec(model_ms=model_ms or None, **fields)


def start_burst(**spec: Any) -> str:
    """Start a burst in a separate process; returns its id (raises InvalidInput on a bad spec)."""
    mgr = burst_manager()
    if mgr is None:
        raise InvalidInput([{"field": "load", "message": LOAD_UNAVAILABLE}])
    services.metrics_source()  # the all-process view samples from now on, Metrics page open or not
    return str(mgr.start(burst_spec(**spec)))


def burst_view(burst_id: str) -> dict[str, Any]:
    """A burst's status (``state``, ``finished``, ``error``, ``summary`` once finished, ``spec``)."""
    from core.load.bursts import FINAL_STATES

    mgr = burst_manager()
    status = dict(mgr.status(burst_id))  # type: ignore[union-attr]
    status["finished"] = status["state"] in FINAL_STATES
    if status["finished"]:
        status["summary"] = mgr.summary(burst_id)  # type: ignore[union-attr]
    spec = mgr.spec(burst_id)  # type: ignore[union-attr]
    status["spec"] = spec
    status["emulated"] = bool(
        spec.get("emulate_model")
        or (spec.get("settings") or {}).get("model_latency")
        or (spec.get("settings") or {}).get("source_latency")
    )
    return status


def startup_progress(status: dict[str, Any]) -> dict[str, Any]:
    """What a ``starting`` burst is doing: seconds since launch, the typical start-up time (the last
    burst that reached ``running``), and the process's CPU time and memory as it loads indexes."""
    now = time.time()
    created = float(status.get("created_at") or now)
    info: dict[str, Any] = {"elapsed_s": now - created, "typical_s": _typical_startup(), "detail": None}
    info["detail"] = status.get("detail")
    pid = status.get("pid")
    if pid:
        try:
            root = psutil.Process(int(pid))
            procs = [root, *root.children(recursive=True)]  # a burst over several processes
            cpu = rss = 0.0
            for p in procs:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu += t.user + t.system
                    rss += p.memory_info().rss
            info.update(cpu_s=cpu, rss_mb=rss / 2**20, processes=len(procs))
        except (psutil.Error, ValueError):
            pass
    return info


@st.cache_data(ttl=30, show_spinner=False)
def _typical_startup() -> float | None:
    mgr = burst_manager()
    if mgr is None:
        return None
    for b in mgr.list(limit=20):
        if b.get("running_at") and b.get("created_at"):
            return float(b["running_at"]) - float(b["created_at"])
    return None


# ---- timelines: read once per new line, shared by every session ---------------------------------
class _Tail:
    """The parsed lines of one timeline file, extended with what was appended since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        with self.lock:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(self.offset)
                    chunk = fh.read()
            except OSError:
                return self.rows
            end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next read
            if end:
                new = [orjson.loads(line) for line in chunk[:end].splitlines() if line.strip()]
                self.offset += end
                self.rows = [*self.rows, *new]  # a new list: readers keep a consistent copy
            return self.rows


@st.cache_resource(max_entries=32, show_spinner=False)
def _tail(burst_id: str) -> _Tail:
    return _Tail(burst_manager().root / burst_id / "timeline.jsonl")  # type: ignore[union-attr]


def burst_timeline(burst_id: str, since: int = 0) -> list[dict[str, Any]]:
    """Timeline entries (one per second) the burst process has written so far, ``t > since``."""
    burst_manager()._folder(burst_id)  # type: ignore[union-attr]  # RunNotFound for a bad id
    rows = _tail(burst_id).read()
    return [r for r in rows if r.get("t", 0) > since] if since else rows


def burst_marks(status: dict[str, Any]) -> list[tuple[float, str]]:
    """Settings changes made in this process during a burst, for its charts."""
    start = float(status.get("created_at") or 0.0)
    return [(t, label) for t, label in services.change_marks() if t >= start]


LIVE_STEP_S = 2
"""While a burst runs its chart changes every this many timeline seconds (the headline every
second): each change makes every watching browser redraw the whole Plotly figure, the page's
dominant cost under load."""
LIVE_WINDOW_S = 180
"""While a burst runs the chart shows its last this many seconds (all of them once it ends)."""


def burst_figure(
    burst_id: str, rows: list[dict[str, Any]], marks: list[tuple[float, str]], summary: dict[str, Any] | None
) -> Any:
    """The burst's metrics as one figure, built once per ``LIVE_STEP_S`` new timeline seconds and
    shared by every session watching the burst; an unchanged figure costs the browsers nothing."""
    done = summary is not None
    n = len(rows) if done else len(rows) - len(rows) % LIVE_STEP_S
    return _burst_figure(burst_id, n, tuple(marks), done, rows[:n], summary)


@st.cache_resource(max_entries=64, ttl=600, show_spinner=False)
def _burst_figure(burst_id: str, n: int, marks: tuple[tuple[float, str], ...], done: bool,
                  _rows: list[dict[str, Any]], _summary: dict[str, Any] | None) -> Any:  # fmt: skip
    from dashboard import charts, panels

    head = frames.burst_headline(_rows, _summary)["whole"]
    averages = {"throughput": head["throughput"]} if head["throughput"] else None
    shown = frames.full_seconds(_rows if done else _rows[-LIVE_WINDOW_S:])
    return panels.timeline_panel(shown, charts.BURST_CHARTS, marks, averages=averages, names=_NAMES)


def marks_strip(marks: list[tuple[float, str]]) -> str:
    """The settings changes as one compact line under a chart (``v2 naive 10:05:03 · ...``)."""
    return " · ".join(f"{label} at {time.strftime('%H:%M:%S', time.gmtime(t))} UTC" for t, label in marks)


_NAMES = {
    "errors_per_s": "errors",
    "rejected_per_s": "rejected (overloaded)",
    "rss_mb": "memory",
    "p50_ms": "p50",
    "p95_ms": "p95",
    "p99_ms": "p99",
}


def overlay_figure(burst_ids: tuple[str, ...]) -> Any:
    """Two or more bursts on one set of panels, aligned on seconds since each one's start."""
    from dashboard import charts, panels

    rows = frames.overlay_rows([(b, burst_timeline(b)) for b in burst_ids])
    return panels.timeline_panel(rows, charts.BURST_CHARTS, x="t", names=_NAMES)


def cancel_burst(burst_id: str) -> dict[str, Any]:
    return dict(burst_manager().cancel(burst_id, grace_s=5.0))  # type: ignore[union-attr]


def past_bursts(kind: str = "burst") -> list[dict[str, Any]]:
    """Stored bursts (or experiments), newest first: id, label, state, when."""
    mgr = burst_manager()
    return [] if mgr is None else present.burst_rows(mgr.list(limit=100), kind)


def bursts_listing(limit: int = 100) -> list[dict[str, Any]]:
    """Stored bursts with their spec basics and headline figures (unix-second times), newest first."""
    mgr = burst_manager()
    return [] if mgr is None else list(mgr.list(limit=limit))


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
