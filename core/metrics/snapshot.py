"""The in-process sink: raw sample windows, the per-second series, and the snapshot models."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import psutil
from pydantic import BaseModel, Field

from core.metrics.names import BUCKETS, CACHE_EVENTS, COALESCE_LEVELS, RUN_STATUSES
from core.metrics.quantiles import QS, binned_quantiles, percentiles
from core.runctx import PHASES

_BOUNDS = np.array([*BUCKETS, math.inf])


class LatencyStats(BaseModel):
    """Latency of one node (or of whole workflows) over the raw sample window."""

    count: int = 0
    """Observations since the process started."""
    window: int = 0
    """Raw samples the percentiles below are computed from (the most recent ones)."""
    mean: float | None = None
    max: float | None = None
    p50: float | None = None
    """Exact percentiles (numpy, linear) of the raw window, in seconds."""
    p95: float | None = None
    p99: float | None = None
    p50_est: float | None = None
    """The same window binned into ``BUCKETS`` and estimated like histogram_quantile: the error a
    Prometheus chart would show by bucket resolution alone."""
    p95_est: float | None = None
    p99_est: float | None = None

    @classmethod
    def of(cls, samples: np.ndarray, count: int) -> LatencyStats:
        if samples.size == 0:
            return cls(count=count)
        p50, p95, p99 = percentiles(samples, QS)
        est = binned_quantiles(samples, _BOUNDS, QS)
        return cls(
            count=count, window=int(samples.size), mean=float(samples.mean()), max=float(samples.max()),
            p50=p50, p95=p95, p99=p99, p50_est=est[0], p95_est=est[1], p99_est=est[2],
        )  # fmt: skip


class PhaseTotals(BaseModel):
    """Seconds per phase summed over the runs of one settings version."""

    settings_version: int
    runs: int = 0
    seconds: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))


class SeriesPoint(BaseModel):
    """One second of activity, for live charts without Prometheus."""

    t: int
    """Unix time (whole second) the point covers."""
    runs: int = 0
    """Runs finished in that second (= throughput in runs/s)."""
    errors: int = 0
    p50: float | None = None
    """Exact percentiles of the workflows finished in that second (None when none did)."""
    p95: float | None = None
    p99: float | None = None
    nodes: dict[str, tuple[float, float, float]] = {}
    """Per node: exact (p50, p95, p99) of the node runs finished in that second."""
    hit_rate: float | None = None
    """Cache hits / (hits + misses) over every level in that second."""
    hit_rate_by_level: dict[str, float | None] = {}
    rss_bytes: int = 0
    """Resident memory read when the second was closed (idle seconds: when activity resumed)."""
    active: int = 0
    settings_version: int = 0
    rss_by_process: dict[str, int] = {}
    """Merged view only: resident memory of each live process, by its label (``burst 4242``)."""
    coalesced: dict[str, int] = {}
    """Merged view only: runs answered by joining an identical run in flight, by level."""
    buckets: dict[str, dict[str, dict[float, float]]] = {}
    """Merged view only: that second's histogram bucket increases (series -> group -> le -> n)."""
    estimated: bool = False
    """True when the percentiles are estimated from histogram buckets (merged view), not exact."""


class MetricsSnapshot(BaseModel):
    """Everything ``Metrics`` recorded in this process, at one moment."""

    taken_at: float
    uptime_s: float
    pid: int
    multiprocess: bool
    runs: dict[str, int]
    """Finished runs by status."""
    rejected: int
    coalesced: dict[str, int] = {}
    """Requests that shared an identical in-flight computation, by level (``result``, ``node``)."""
    validation_errors: dict[str, int]
    """By ``Model.field``."""
    source_failures: dict[str, int]
    tokens: dict[str, int]
    cache_events: dict[str, dict[str, dict[str, int]]]
    """level -> node -> event -> count."""
    cache_hit_rate_by_level: dict[str, float | None]
    cache_hit_rate: dict[str, dict[str, float | None]]
    """level -> node -> hits / (hits + misses)."""
    active: int
    queue_depth: int
    settings_version: int
    rss_bytes: int
    workflow: LatencyStats
    nodes: dict[str, LatencyStats]
    throughput_rps: float
    """Runs per second over the last ``throughput_window_s`` whole seconds."""
    throughput_window_s: int
    phases: dict[int, PhaseTotals]
    """Per settings version; see ``core.metrics.profiling.phase_table``."""
    series: list[SeriesPoint] = []


class _Second:
    """Accumulates the current second's events until it is closed into a SeriesPoint."""

    __slots__ = ("cache", "errors", "nodes", "t", "wf")

    def __init__(self, t: int) -> None:
        self.t = t
        self.wf: list[float] = []
        self.nodes: dict[str, list[float]] = {}
        self.cache: dict[str, list[int]] = {}  # level -> [hits, misses]
        self.errors = 0


class WindowSink:
    """Raw samples and tallies of this process, read back as a ``MetricsSnapshot``.

    ``on_rss`` is called with the resident memory each time a second is closed (the Prometheus
    sink exports it per process in multiprocess mode).
    """

    def __init__(
        self,
        *,
        window: int = 10_000,
        series_seconds: int = 600,
        throughput_window_s: int = 10,
        multiprocess: bool = False,
        clock: Callable[[], float] = time.time,
        on_rss: Callable[[int], None] | None = None,
    ) -> None:
        # One lock because the engine's loop thread writes while dashboard threads read.
        self._lock = threading.Lock()
        self._window = window
        self._multiprocess = multiprocess
        self._wf_raw: deque[float] = deque(maxlen=window)
        self._node_raw: dict[str, deque[float]] = {}
        self._counts: Counter[str] = Counter()  # runs by status
        self._node_counts: Counter[str] = Counter()
        self._cache_counts: Counter[tuple[str, str, str]] = Counter()
        self._validation_counts: Counter[str] = Counter()
        self._source_counts: Counter[str] = Counter()
        self._token_counts: Counter[str] = Counter()
        self._rejected_n = 0
        self._coalesced_counts: Counter[str] = Counter()
        self._active_n = self._queue_n = self._version_n = 0
        self._phase_totals: OrderedDict[int, PhaseTotals] = OrderedDict()
        self._series: deque[SeriesPoint] = deque(maxlen=series_seconds)
        self._throughput_window_s = throughput_window_s
        self._proc = psutil.Process()
        self._on_rss = on_rss
        self._clock = clock
        """Wall clock for the per-second series (a parameter so tests can step it)."""
        self._started = clock()
        self._sec = _Second(int(self._started))

    # -- the Sink methods ------------------------------------------------------------------------

    def observe_run(
        self,
        status: str,
        seconds: float,
        phases: Mapping[str, float],
        nodes: Sequence[tuple[str, float]],
        settings_version: int,
    ) -> None:
        now = int(self._clock())
        with self._lock:
            if now != self._sec.t:
                self._roll(now)
            self._counts[status] += 1
            self._version_n = settings_version
            self._wf_raw.append(seconds)
            sec = self._sec
            sec.wf.append(seconds)
            if status == "error":
                sec.errors += 1
            for node, s in nodes:
                raw = self._node_raw.get(node)
                if raw is None:
                    raw = self._node_raw[node] = deque(maxlen=self._window)
                raw.append(s)
                self._node_counts[node] += 1
                sec.nodes.setdefault(node, []).append(s)
            totals = self._phase_totals.get(settings_version)
            if totals is None:
                totals = self._phase_totals[settings_version] = PhaseTotals(settings_version=settings_version)
                if len(self._phase_totals) > 64:  # versions only grow; keep the recent ones
                    self._phase_totals.popitem(last=False)
            totals.runs += 1
            tsec = totals.seconds
            for phase, s in phases.items():
                tsec[phase] = tsec.get(phase, 0.0) + s

    def cache_event(self, level: str, node: str, event: str) -> None:
        now = int(self._clock())
        with self._lock:
            if now != self._sec.t:
                self._roll(now)
            self._cache_counts[(level, node, event)] += 1
            if event == "hit" or event == "miss":
                hm = self._sec.cache.get(level)
                if hm is None:
                    hm = self._sec.cache[level] = [0, 0]
                hm[event == "miss"] += 1

    def validation_error(self, model: str, field: str) -> None:
        with self._lock:
            self._validation_counts[f"{model}.{field}"] += 1

    def source_failure(self, source: str) -> None:
        with self._lock:
            self._source_counts[source] += 1

    def tokens(self, input: int, output: int) -> None:
        with self._lock:
            self._token_counts["input"] += input
            self._token_counts["output"] += output

    def set_active(self, n: int) -> None:
        self._active_n = n

    def set_queue_depth(self, n: int) -> None:
        self._queue_n = n

    def set_settings_version(self, version: int) -> None:
        self._version_n = version

    def rejected(self) -> None:
        with self._lock:
            self._rejected_n += 1

    def coalesced(self, level: str) -> None:
        with self._lock:
            self._coalesced_counts[level] += 1

    # -- reading ---------------------------------------------------------------------------------

    def series(self) -> list[SeriesPoint]:
        """Per-second points (oldest first) up to the last whole second."""
        with self._lock:
            self._roll(int(self._clock()))
            return list(self._series)

    def snapshot(self, *, series: bool = True) -> MetricsSnapshot:
        """Everything recorded so far; exact percentiles from the raw windows."""
        now = self._clock()
        with self._lock:
            self._roll(int(now))
            wf = np.fromiter(self._wf_raw, float, len(self._wf_raw))
            node_raw = {n: np.fromiter(d, float, len(d)) for n, d in self._node_raw.items()}
            counts, node_counts = dict(self._counts), dict(self._node_counts)
            cache = dict(self._cache_counts)
            phases = {v: t.model_copy(deep=True) for v, t in self._phase_totals.items()}
            points = list(self._series)
            validation, srcs = dict(self._validation_counts), dict(self._source_counts)
            tokens, rejected = dict(self._token_counts), self._rejected_n
            coalesced = dict(self._coalesced_counts)
        recent = points[-self._throughput_window_s :]
        nested: dict[str, dict[str, dict[str, int]]] = {}
        for (lv, node, ev), n in cache.items():
            nested.setdefault(lv, {}).setdefault(node, dict.fromkeys(sorted(CACHE_EVENTS), 0))[ev] = n
        by_level = {
            lv: _rate(sum(e["hit"] for e in nodes.values()), sum(e["miss"] for e in nodes.values()))
            for lv, nodes in nested.items()
        }
        return MetricsSnapshot(
            taken_at=now,
            uptime_s=now - self._started,
            pid=os.getpid(),
            multiprocess=self._multiprocess,
            runs={s: counts.get(s, 0) for s in sorted({*RUN_STATUSES, *counts})},
            rejected=rejected,
            coalesced={level: coalesced.get(level, 0) for level in sorted({*COALESCE_LEVELS, *coalesced})},
            validation_errors=validation,
            source_failures=srcs,
            tokens={"input": tokens.get("input", 0), "output": tokens.get("output", 0)},
            cache_events=nested,
            cache_hit_rate_by_level=by_level,
            cache_hit_rate={
                lv: {node: _rate(e["hit"], e["miss"]) for node, e in nodes.items()}
                for lv, nodes in nested.items()
            },
            active=self._active_n,
            queue_depth=self._queue_n,
            settings_version=self._version_n,
            rss_bytes=self._proc.memory_info().rss,
            workflow=LatencyStats.of(wf, sum(counts.values())),
            nodes={n: LatencyStats.of(a, node_counts.get(n, 0)) for n, a in sorted(node_raw.items())},
            throughput_rps=sum(p.runs for p in recent) / len(recent) if recent else 0.0,
            throughput_window_s=self._throughput_window_s,
            phases=phases,
            series=points if series else [],
        )

    def _roll(self, now: int) -> None:
        """Close the current second (and fill idle seconds) into the series. Caller holds the lock."""
        sec = self._sec
        if now <= sec.t:
            return
        rss = self._proc.memory_info().rss
        if self._on_rss is not None:
            self._on_rss(rss)
        p50, p95, p99 = percentiles(sec.wf, QS)
        self._series.append(
            SeriesPoint.model_construct(
                t=sec.t, runs=len(sec.wf), errors=sec.errors, p50=p50, p95=p95, p99=p99,
                nodes={n: _three(percentiles(v, QS)) for n, v in sec.nodes.items()},
                hit_rate=_rate(sum(h for h, _ in sec.cache.values()), sum(m for _, m in sec.cache.values())),
                hit_rate_by_level={lv: _rate(h, m) for lv, (h, m) in sec.cache.items()}, rss_bytes=rss,
                active=self._active_n, settings_version=self._version_n,
            )
        )  # fmt: skip
        maxlen = self._series.maxlen or 0
        for t in range(max(sec.t + 1, now - maxlen), now):  # idle seconds: no runs, same memory
            self._series.append(
                SeriesPoint.model_construct(
                    t=t, runs=0, errors=0, p50=None, p95=None, p99=None, nodes={}, hit_rate=None,
                    hit_rate_by_level={}, rss_bytes=rss, active=self._active_n,
                    settings_version=self._version_n,
                )
            )  # fmt: skip
        self._sec = _Second(now)


def _rate(hits: int, misses: int) -> float | None:
    return hits / (hits + misses) if hits + misses else None


def _three(ps: list[float | None]) -> tuple[float, float, float]:
    """A node's (p50, p95, p99); its list always has samples, so none is None."""
    p50, p95, p99 = ps
    assert p50 is not None and p95 is not None and p99 is not None
    return p50, p95, p99
