"""Where the time goes: phase tables, an on-demand profiler of the next N runs, and memory views.

- ``phase_table`` turns per-phase seconds (from a ``MetricsSnapshot``) into rows and
  ``format_phase_table`` into one line: ``LLM calls 48% · sources 22% · ...``.
- ``Profiler`` profiles the next N runs when asked (pyinstrument, async-aware, or cProfile) and
  reports the top functions as data. The engine pays one attribute read per run otherwise.
- ``AllocationTracer`` (tracemalloc top sites), ``rss_history`` and ``per_workflow_memory`` are the
  memory view.
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import psutil
import pyinstrument
from pyinstrument.frame import AWAIT_FRAME_IDENTIFIER
from pyinstrument.session import Session

from core.metrics.recorder import Metrics
from core.metrics.snapshot import MetricsSnapshot, PhaseTotals
from core.runctx import PHASES

T = TypeVar("T")

PHASE_LABELS = {
    "llm": "LLM calls",
    "sources": "sources",
    "validation": "validation",
    "serialization": "serialization",
    "cache": "cache",
    "graph": "graph overhead",
}


# -- phase table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseRow:
    phase: str
    label: str
    seconds: float
    """Total seconds in this phase over ``runs`` runs."""
    share: float
    """Fraction (0-1) of all phase time; the rows' shares add up to 1."""
    per_run_ms: float | None
    """Mean milliseconds per run (None when the run count is unknown)."""


def phase_table(
    data: MetricsSnapshot | PhaseTotals | Mapping[str, float], settings_version: int | None = None
) -> list[PhaseRow]:
    """Rows of where the time went, largest share first.

    A snapshot is read for ``settings_version`` (default: the version last run under, else the
    newest one recorded); a plain mapping is seconds per phase for an unknown number of runs.

    >>> [r.label for r in phase_table({"llm": 3.0, "sources": 1.0})][:2]
    ['LLM calls', 'sources']
    """
    runs: int | None = None
    if isinstance(data, MetricsSnapshot):
        version = settings_version if settings_version is not None else data.settings_version
        totals = data.phases.get(version) or (data.phases[max(data.phases)] if data.phases else None)
        if totals is None:
            return []
        data = totals
    if isinstance(data, PhaseTotals):
        runs, seconds = data.runs, dict(data.seconds)
    else:
        seconds = dict(data)
    total = sum(seconds.values())
    order = {p: i for i, p in enumerate(PHASES)}
    rows = [
        PhaseRow(
            phase=p,
            label=PHASE_LABELS.get(p, p),
            seconds=s,
            share=s / total if total > 0 else 0.0,
            per_run_ms=s * 1000 / runs if runs else None,
        )
        for p, s in seconds.items()
    ]
    return sorted(rows, key=lambda r: (-r.seconds, order.get(r.phase, 99)))


def format_phase_table(rows: list[PhaseRow], min_share: float = 0.005) -> str:
    """One line: ``LLM calls 48% · sources 22% · graph overhead 9%`` (shares under 0.5% omitted).

    >>> format_phase_table(phase_table({"llm": 0.48, "sources": 0.22, "graph": 0.30}))
    'LLM calls 48% · graph overhead 30% · sources 22%'
    """
    return " · ".join(f"{r.label} {r.share:.0%}" for r in rows if r.share >= min_share)


# -- profiler ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionStat:
    function: str
    location: str
    """``file:line`` of the function's definition."""
    self_s: float
    """Seconds executing the function's own code (pyinstrument: excluding time spent awaiting)."""
    cumulative_s: float
    """Seconds with the function on the stack (recursion counted once)."""
    self_pct: float
    cumulative_pct: float


@dataclass(frozen=True)
class ProfileReport:
    backend: str
    runs: int
    total_s: float
    """Profiled seconds: wall time (pyinstrument) or CPU time in profiled code (cProfile)."""
    functions: list[FunctionStat]


Backend = Literal["pyinstrument", "cprofile"]


class Profiler:
    """Profiles the next N runs on request, one run at a time.

    The engine wraps each run like this (one attribute read when nothing is requested)::

        result = await (profiler.run(call) if profiler.active else call())

    Runs overlapping a profiled run go unprofiled, so N runs may take longer than N runs of
    traffic. pyinstrument (default, ``async_mode="enabled"``) attributes the time a run spends
    awaiting to the await, not to whatever else the loop ran meanwhile; cProfile sees every
    coroutine stepped on the loop thread while the run is in flight.

    >>> p = Profiler(); p.request(runs=3); p.active
    True
    """

    def __init__(self, backend: Backend = "pyinstrument", interval_s: float = 0.0005) -> None:
        self.backend: Backend = backend
        self.interval_s = interval_s
        self.active = False
        """True while requested runs remain; the engine's only per-run check."""
        self._lock = threading.Lock()
        self._remaining = 0
        self._busy = False
        self._runs = 0
        self._sessions: list[Session] = []
        self._pstats: pstats.Stats | None = None
        self._done = threading.Event()

    def request(self, runs: int = 1, backend: Backend | None = None) -> None:
        """Profile the next ``runs`` runs, discarding any previous results."""
        if runs < 1:
            raise ValueError("runs must be >= 1")
        with self._lock:
            self.backend = backend or self.backend
            self._remaining, self._runs = runs, 0
            self._sessions, self._pstats = [], None
            self._done.clear()
            self.active = True

    def cancel(self) -> None:
        """Stop profiling further runs; what was profiled so far stays readable."""
        with self._lock:
            self._remaining = 0
            self.active = False
            self._done.set()

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()``, profiling it if a profile slot is free."""
        with self._lock:
            claimed = self._remaining > 0 and not self._busy
            self._busy = self._busy or claimed
        if not claimed:
            return await call()
        try:
            if self.backend == "cprofile":
                prof = cProfile.Profile()
                prof.enable()
                try:
                    return await call()
                finally:
                    prof.disable()
                    self._add(prof)
            pi = pyinstrument.Profiler(interval=self.interval_s, async_mode="enabled")
            try:
                pi.start()
            except (RuntimeError, ValueError):  # another profiler owns this thread: run unprofiled
                return await call()
            try:
                return await call()
            finally:
                self._add(pi.stop())
        finally:
            with self._lock:
                self._busy = False

    def _add(self, result: Session | cProfile.Profile) -> None:
        with self._lock:
            if isinstance(result, Session):
                self._sessions.append(result)
            elif self._pstats is None:
                self._pstats = pstats.Stats(result)
            else:
                self._pstats.add(result)
            self._runs += 1
            self._remaining -= 1
            if self._remaining <= 0:
                self.active = False
                self._done.set()

    def wait(self, timeout: float | None = None) -> ProfileReport | None:
        """Block until the requested runs were profiled (or ``timeout``); then ``report()``."""
        self._done.wait(timeout)
        return self.report()

    def report(self, top: int = 20, sort: Literal["self", "cumulative"] = "self") -> ProfileReport | None:
        """The top functions over the runs profiled so far (None before the first one finishes)."""
        with self._lock:
            sessions, stats, runs = list(self._sessions), self._pstats, self._runs
        if sessions:
            session = sessions[0]
            for other in sessions[1:]:
                session = Session.combine(session, other)
            total, funcs = _from_pyinstrument(session)
            backend = "pyinstrument"
        elif stats is not None:
            total, funcs = _from_pstats(stats)
            backend = "cprofile"
        else:
            return None
        key = (lambda f: f[2]) if sort == "self" else (lambda f: f[3])
        funcs.sort(key=key, reverse=True)
        pct = 100.0 / total if total > 0 else 0.0
        return ProfileReport(
            backend=backend,
            runs=runs,
            total_s=total,
            functions=[FunctionStat(n, loc, s, c, s * pct, c * pct) for n, loc, s, c in funcs[:top]],
        )


def _from_pyinstrument(session: Session) -> tuple[float, list[tuple[str, str, float, float]]]:
    root = session.root_frame()
    if root is None:
        return 0.0, []
    acc: dict[tuple[str, str], list[float]] = {}
    # Iterative walk carrying the identities on the current stack, so recursion is counted once.
    stack: list[tuple[Any, frozenset[tuple[str, str]]]] = [(root, frozenset())]
    while stack:
        frame, seen = stack.pop()
        if frame.is_synthetic:
            continue
        key = (frame.function, f"{frame.file_path_short or frame.file_path}:{frame.line_no}")
        entry = acc.setdefault(key, [0.0, 0.0])
        children = frame.children
        entry[0] += frame.total_self_time - sum(
            c.time for c in children if c.identifier == AWAIT_FRAME_IDENTIFIER
        )
        if key not in seen:
            entry[1] += frame.time
        inner = seen | {key}
        stack.extend((child, inner) for child in children)
    return root.time, [(f, loc, s, c) for (f, loc), (s, c) in acc.items()]


def _from_pstats(stats: pstats.Stats) -> tuple[float, list[tuple[str, str, float, float]]]:
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    funcs = [
        (func, f"{file}:{line}", tt, ct) for (file, line, func), (_cc, _nc, tt, ct, _callers) in raw.items()
    ]
    return sum(f[2] for f in funcs), funcs


# -- memory --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationSite:
    location: str
    """``file:line`` that allocated the memory still alive."""
    size_bytes: int
    count: int


class AllocationTracer:
    """tracemalloc on demand. Tracing slows allocation-heavy code ~2x: start, look, stop.

    ``start``/``top`` walk the whole heap; call them off the event loop (``asyncio.to_thread``).

    >>> t = AllocationTracer(); t.start(); sites = t.top(5); t.stop()
    """

    def __init__(self) -> None:
        self.baseline_bytes = 0
        """Traced bytes when tracing started: start while idle to measure per-workflow memory."""
        self._started_here = False

    @property
    def tracing(self) -> bool:
        return tracemalloc.is_tracing()

    def start(self, nframes: int = 1) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(nframes)
            self._started_here = True
        self.baseline_bytes = tracemalloc.get_traced_memory()[0]

    def stop(self) -> None:
        if self._started_here and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._started_here = False

    def traced_bytes(self) -> int:
        return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0

    def top(self, n: int = 10) -> list[AllocationSite]:
        """The ``n`` source lines holding the most live memory allocated since tracing started."""
        if not tracemalloc.is_tracing():
            return []
        snap = tracemalloc.take_snapshot().filter_traces(
            (
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
            )
        )
        return [
            AllocationSite(f"{s.traceback[0].filename}:{s.traceback[0].lineno}", s.size, s.count)
            for s in snap.statistics("lineno")[:n]
        ]


def rss_history(metrics: Metrics) -> list[tuple[int, int]]:
    """(unix second, resident bytes) points from the metrics' per-second series."""
    return [(p.t, p.rss_bytes) for p in metrics.series()]


@dataclass(frozen=True)
class PerWorkflowMemory:
    bytes_per_workflow: float | None
    """None when no workflow is in flight (nothing to divide by)."""
    active: int
    method: Literal["tracemalloc", "rss-delta"]
    baseline_bytes: int
    current_bytes: int


def per_workflow_memory(metrics: Metrics, tracer: AllocationTracer | None = None) -> PerWorkflowMemory:
    """Memory held per in-flight workflow: (now - idle baseline) / workflows active.

    With tracing on, bytes are Python allocations traced since ``tracer.start()`` (precise, Python
    heap only). Otherwise RSS now minus the RSS of the latest idle second (active == 0) in the
    series: coarse, as the allocator keeps freed pages and caches grow meanwhile, but free.
    """
    active = metrics.snapshot(series=False).active
    if tracer is not None and tracer.tracing:
        base, now, method = tracer.baseline_bytes, tracer.traced_bytes(), "tracemalloc"
    else:
        points = metrics.series()
        idle = [p.rss_bytes for p in points if p.active == 0 and p.rss_bytes]
        now = psutil.Process().memory_info().rss
        base, method = (idle[-1] if idle else now), "rss-delta"
    per = (now - base) / active if active > 0 else None
    return PerWorkflowMemory(per, active, method, base, now)  # type: ignore[arg-type]
