"""Engine metrics: Prometheus export plus an in-process snapshot with exact percentiles.

One ``Metrics`` object owns every metric of a process. The engine calls its cheap recording
methods (``observe_run``, ``cache_event`` ...) on the hot path; ``snapshot()`` turns what was
recorded into a ``MetricsSnapshot`` the dashboard reads with no Prometheus at all.

Exported series (all ``researchops_``-prefixed, seconds and bytes as base units):

=====================================  =========  ================================================
``workflow_duration_seconds``          histogram  label ``status`` (ok / partial / error)
``node_duration_seconds``              histogram  label ``node``
``phase_duration_seconds``             histogram  label ``phase`` (llm, sources, validation,
                                                  serialization, cache, graph); one observation
                                                  per run and phase, so ``_sum`` shares add to 100%
``runs_total``                         counter    label ``status``: finished runs
``rejected_total``                     counter    runs refused by admission control
``cache_events_total``                 counter    labels ``level``, ``node``, ``event`` (hit, miss,
                                                  error, eviction). One counter rather than four:
                                                  a hit rate is one PromQL ratio over one metric
``validation_errors_total``            counter    labels ``model``, ``field``
``source_failures_total``              counter    label ``source``
``model_tokens_total``                 counter    label ``kind`` (input / output)
``workflows_active``                   gauge      running workflows
``queue_depth``                        gauge      workflows waiting for a slot
``settings_version``                   gauge      the EngineSettings version last run under
``process_resident_memory_bytes``      gauge      from prometheus_client's ProcessCollector
=====================================  =========  ================================================

Multi-process: prometheus_client decides its storage when it is first imported. If the entry point
sets ``PROMETHEUS_MULTIPROC_DIR`` before that, every process writes its values to mmap files there
and ``Metrics`` registers a ``MultiProcessCollector`` on its registry, so any one process's
``/metrics`` serves the sum over all of them (gauges: ``livesum``; settings_version: ``max``;
RSS per process as ``researchops_resident_memory_bytes{pid}``). The entry point must call
``Metrics.mark_process_dead(pid)`` when a worker exits. Without the variable each process serves its
own ``/metrics`` and Prometheus scrapes each (``deploy/prometheus.yml``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import psutil
from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector, multiprocess, values
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import start_http_server
from pydantic import BaseModel, Field

from core.runctx import PHASES

BUCKETS: tuple[float, ...] = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip
"""Histogram upper bounds in seconds (1 ms .. 30 s, 1-2-5 steps); ``+Inf`` is implicit."""
CACHE_EVENTS = frozenset({"hit", "miss", "error", "eviction"})
RUN_STATUSES = ("ok", "partial", "error")
_BOUNDS = np.array([*BUCKETS, math.inf])
_QS = (50.0, 95.0, 99.0)


def multiprocess_enabled() -> bool:
    """True when prometheus_client stores values in mmap files (``PROMETHEUS_MULTIPROC_DIR`` was set
    before it was imported). Read from the library's own state, not from the environment."""
    return values.ValueClass is not values.MutexValue


def histogram_quantile(
    q: float, bounds: Sequence[float] | np.ndarray, cumulative: Sequence[float] | np.ndarray
) -> float | None:
    """Estimate quantile ``q`` from cumulative bucket counts, exactly as PromQL's histogram_quantile.

    ``bounds`` are upper bounds ending with ``inf``. Linear interpolation inside the bucket holding
    the rank; a rank in the ``+Inf`` bucket returns the highest finite bound. None without data.

    >>> round(histogram_quantile(0.5, [0.1, 0.2, float("inf")], [0, 10, 10]), 6)
    0.15
    """
    total = cumulative[-1] if len(cumulative) else 0
    if len(bounds) < 2 or total <= 0:
        return None
    rank = q * total
    b = int(np.searchsorted(np.asarray(cumulative), rank, side="left"))
    if b >= len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end, count = 0.0, float(bounds[b]), float(cumulative[b])
    if b > 0:
        start = float(bounds[b - 1])
        count -= cumulative[b - 1]
        rank -= cumulative[b - 1]
    return start + (end - start) * (rank / count)


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
        p50, p95, p99 = np.percentile(samples, _QS)
        cum = np.cumsum(np.bincount(np.searchsorted(_BOUNDS, samples, side="left"), minlength=_BOUNDS.size))
        est = [histogram_quantile(q / 100, _BOUNDS, cum) for q in _QS]
        return cls(
            count=count, window=int(samples.size), mean=float(samples.mean()), max=float(samples.max()),
            p50=float(p50), p95=float(p95), p99=float(p99), p50_est=est[0], p95_est=est[1], p99_est=est[2],
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


class MetricsSnapshot(BaseModel):
    """Everything ``Metrics`` recorded in this process, at one moment."""

    taken_at: float
    uptime_s: float
    pid: int
    multiprocess: bool
    runs: dict[str, int]
    """Finished runs by status."""
    rejected: int
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
    """Per settings version; see ``core.profiling.phase_table``."""
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


class Metrics:
    """The metrics of one process: Prometheus objects on ``registry`` plus raw samples.

    Use ``Metrics.for_process()`` in applications (one instance per process, survives Streamlit
    reruns); construct directly in tests. ``nodes``/``sources``/``cache_levels`` pre-create their
    labelled series at zero, so ``rate()`` sees the first increase.

    >>> m = Metrics(nodes=["parse_query"])
    >>> m.observe_run("ok", 0.02, {"llm": 0.015, "graph": 0.005}, [("parse_query", 0.004)], 1)
    >>> m.snapshot().runs["ok"]
    1
    """

    _process: ClassVar[Metrics | None] = None
    _process_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        nodes: Iterable[str] = (),
        sources: Iterable[str] = (),
        cache_levels: Iterable[str] = ("l1", "l2"),
        window: int = 10_000,
        series_seconds: int = 600,
        throughput_window_s: int = 10,
        multiprocess_dir: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.multiprocess = multiprocess_enabled()
        # In multiprocess mode the objects write to mmap files and the registry serves the aggregate
        # of every process's files; registering them too would export this process's values twice.
        own: CollectorRegistry | None = None if self.multiprocess else self.registry
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry, path=multiprocess_dir)
        try:
            ProcessCollector(registry=self.registry)
        except ValueError:  # the registry already has one (e.g. prometheus_client.REGISTRY)
            pass

        p = "researchops_"
        self._wf = Histogram(f"{p}workflow_duration_seconds", "Workflow wall time", ["status"],
                             buckets=BUCKETS, registry=own)  # fmt: skip
        self._node = Histogram(f"{p}node_duration_seconds", "Graph node wall time", ["node"],
                               buckets=BUCKETS, registry=own)  # fmt: skip
        self._phase = Histogram(f"{p}phase_duration_seconds", "Per-run seconds attributed to a phase",
                                ["phase"], buckets=BUCKETS, registry=own)  # fmt: skip
        self._runs = PromCounter(f"{p}runs", "Finished runs", ["status"], registry=own)
        self._rejected = PromCounter(f"{p}rejected", "Runs refused by admission control", registry=own)
        self._cache = PromCounter(f"{p}cache_events", "Cache hits, misses, errors and evictions",
                                  ["level", "node", "event"], registry=own)  # fmt: skip
        self._validation = PromCounter(f"{p}validation_errors", "Validation errors", ["model", "field"],
                                       registry=own)  # fmt: skip
        self._source_fail = PromCounter(f"{p}source_failures", "Failed source calls", ["source"],
                                        registry=own)  # fmt: skip
        self._tokens = PromCounter(f"{p}model_tokens", "Model tokens", ["kind"], registry=own)
        self._active = Gauge(f"{p}workflows_active", "Running workflows", registry=own,
                             multiprocess_mode="livesum")  # fmt: skip
        self._queue = Gauge(f"{p}queue_depth", "Workflows waiting for a slot", registry=own,
                            multiprocess_mode="livesum")  # fmt: skip
        self._version = Gauge(f"{p}settings_version", "EngineSettings version last run under",
                              registry=own, multiprocess_mode="max")  # fmt: skip
        self._rss_gauge = (
            Gauge(f"{p}resident_memory_bytes", "RSS per process", registry=None, multiprocess_mode="all")
            if self.multiprocess
            else None
        )
        self._tok_in, self._tok_out = self._tokens.labels("input"), self._tokens.labels("output")

        # Label children cached in plain dicts: ``labels()`` costs ~1 µs, a dict hit ~30 ns.
        self._wf_c: dict[str, Any] = {}
        self._runs_c: dict[str, Any] = {}
        self._node_c: dict[str, Any] = {}
        self._phase_c: dict[str, Any] = {}
        self._cache_c: dict[tuple[str, str, str], Any] = {}
        self._levels = tuple(cache_levels)
        for s in RUN_STATUSES:
            self._child(self._wf_c, self._wf, s)
            self._child(self._runs_c, self._runs, s)
        for ph in PHASES:
            self._child(self._phase_c, self._phase, ph)
        for n in nodes:
            self._child(self._node_c, self._node, n)
            for lv in self._levels:
                for ev in CACHE_EVENTS:
                    self._cache_child(lv, n, ev)
        for s in sources:
            self._source_fail.labels(s)

        # Raw samples and tallies for the snapshot; one lock because the engine's loop thread writes
        # while dashboard threads read.
        self._lock = threading.Lock()
        self._window = window
        self._wf_raw: deque[float] = deque(maxlen=window)
        self._node_raw: dict[str, deque[float]] = {}
        self._counts: Counter[str] = Counter()  # runs by status
        self._node_counts: Counter[str] = Counter()
        self._cache_counts: Counter[tuple[str, str, str]] = Counter()
        self._validation_counts: Counter[str] = Counter()
        self._source_counts: Counter[str] = Counter()
        self._token_counts: Counter[str] = Counter()
        self._rejected_n = 0
        self._active_n = self._queue_n = self._version_n = 0
        self._phase_totals: OrderedDict[int, PhaseTotals] = OrderedDict()
        self._series: deque[SeriesPoint] = deque(maxlen=series_seconds)
        self._throughput_window_s = throughput_window_s
        self._proc = psutil.Process()
        self._clock = clock
        """Wall clock for the per-second series (a parameter so tests can step it)."""
        self._started = clock()
        self._sec = _Second(int(self._started))
        self._server: Any = None
        self._serve_lock = threading.Lock()

    # -- process-wide instance -------------------------------------------------------------------

    @classmethod
    def for_process(cls, **kwargs: Any) -> Metrics:
        """The single intended process-wide instance, created on first call (later kwargs ignored).

        Cached on the class, i.e. at module level, so a Streamlit rerun (which re-executes the page
        script but not imported modules) never redefines the metrics.

        >>> Metrics.for_process() is Metrics.for_process()
        True
        """
        with cls._process_lock:
            if cls._process is None:
                cls._process = cls(**kwargs)
            return cls._process

    @staticmethod
    def mark_process_dead(pid: int, path: str | None = None) -> None:
        """Multiprocess mode: drop a dead worker's live gauges (call from the supervisor).

        ``path`` defaults to ``PROMETHEUS_MULTIPROC_DIR`` (read by prometheus_client).
        """
        multiprocess.mark_process_dead(pid, path)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP (port 0 = any free port); returns the bound port.

        Idempotent: a second call returns the port already serving.

        >>> m = Metrics(); port = m.serve(0); m.serve(0) == port
        True
        >>> m.close()
        """
        with self._serve_lock:
            if self._server is None:
                self._server, _thread = start_http_server(port, addr, registry=self.registry)
            return int(self._server.server_port)

    def close(self) -> None:
        """Stop the ``/metrics`` server, if any."""
        with self._serve_lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- hot path --------------------------------------------------------------------------------

    def observe_run(
        self,
        status: str,
        seconds: float,
        phases: Mapping[str, float],
        nodes: Sequence[tuple[str, float]],
        settings_version: int,
    ) -> None:
        """Record one finished run: wall time, per-phase seconds, per-node durations.

        >>> Metrics().observe_run("ok", 0.05, {"llm": 0.03, "graph": 0.02}, [("parse_query", 0.01)], 2)
        """
        (self._wf_c.get(status) or self._child(self._wf_c, self._wf, status)).observe(seconds)
        (self._runs_c.get(status) or self._child(self._runs_c, self._runs, status)).inc()
        for phase, s in phases.items():
            (self._phase_c.get(phase) or self._child(self._phase_c, self._phase, phase)).observe(s)
        for node, s in nodes:
            (self._node_c.get(node) or self._child(self._node_c, self._node, node)).observe(s)
        self._version.set(settings_version)
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
        """Count a cache ``event`` (hit, miss, error, eviction) at ``level`` for ``node``."""
        key = (level, node, event)
        (self._cache_c.get(key) or self._cache_child(level, node, event)).inc()
        now = int(self._clock())
        with self._lock:
            if now != self._sec.t:
                self._roll(now)
            self._cache_counts[key] += 1
            if event == "hit" or event == "miss":
                hm = self._sec.cache.get(level)
                if hm is None:
                    hm = self._sec.cache[level] = [0, 0]
                hm[event == "miss"] += 1

    def validation_error(self, model: str, field: str) -> None:
        self._validation.labels(model, field).inc()
        with self._lock:
            self._validation_counts[f"{model}.{field}"] += 1

    def source_failure(self, source: str) -> None:
        self._source_fail.labels(source).inc()
        with self._lock:
            self._source_counts[source] += 1

    def tokens(self, input: int, output: int) -> None:
        self._tok_in.inc(input)
        self._tok_out.inc(output)
        with self._lock:
            self._token_counts["input"] += input
            self._token_counts["output"] += output

    def set_active(self, n: int) -> None:
        self._active.set(n)
        self._active_n = n

    def set_queue_depth(self, n: int) -> None:
        self._queue.set(n)
        self._queue_n = n

    def set_settings_version(self, version: int) -> None:
        """The EngineSettings version now in force (also set by every ``observe_run``)."""
        self._version.set(version)
        self._version_n = version

    def rejected(self) -> None:
        self._rejected.inc()
        with self._lock:
            self._rejected_n += 1

    # -- reading ---------------------------------------------------------------------------------

    def series(self) -> list[SeriesPoint]:
        """Per-second points (oldest first) up to the last whole second."""
        with self._lock:
            self._roll(int(self._clock()))
            return list(self._series)

    def snapshot(self, *, series: bool = True) -> MetricsSnapshot:
        """Everything recorded so far; exact percentiles from the raw windows (numpy).

        >>> Metrics().snapshot().workflow.count
        0
        """
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
            multiprocess=self.multiprocess,
            runs={s: counts.get(s, 0) for s in sorted({*RUN_STATUSES, *counts})},
            rejected=rejected,
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

    # -- internals -------------------------------------------------------------------------------

    def _child(self, cache: dict[str, Any], metric: Any, label: str) -> Any:
        child = cache[label] = metric.labels(label)
        return child

    def _cache_child(self, level: str, node: str, event: str) -> Any:
        if event not in CACHE_EVENTS:
            raise ValueError(f"cache event {event!r}: expected one of {sorted(CACHE_EVENTS)}")
        child = self._cache_c[(level, node, event)] = self._cache.labels(level, node, event)
        return child

    def _roll(self, now: int) -> None:
        """Close the current second (and fill idle seconds) into the series. Caller holds the lock."""
        sec = self._sec
        if now <= sec.t:
            return
        rss = self._proc.memory_info().rss
        if self._rss_gauge is not None:
            self._rss_gauge.set(rss)
        wf = np.percentile(sec.wf, _QS) if sec.wf else (None, None, None)
        self._series.append(
            SeriesPoint.model_construct(
                t=sec.t, runs=len(sec.wf), errors=sec.errors,
                p50=_f(wf[0]), p95=_f(wf[1]), p99=_f(wf[2]),
                nodes={n: _three(np.percentile(v, _QS)) for n, v in sec.nodes.items()},
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


def _three(a: np.ndarray) -> tuple[float, float, float]:
    return float(a[0]), float(a[1]), float(a[2])


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


class NullMetrics:
    """Metrics switched off: the same methods, doing nothing (to measure what metrics cost)."""

    def __getattr__(self, name: str) -> Any:
        return _noop


def _noop(*args: Any, **kwargs: Any) -> None:
    return None
