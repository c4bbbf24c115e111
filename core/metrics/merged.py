"""The merged view of every process in a metrics directory: totals now, and per-second series.

``AllProcesses`` samples ``ProcessFiles`` once a second on a daemon thread and turns the change
since the previous sample into a ``SeriesPoint`` per second, like a tiny embedded Prometheus:
runs, errors, workflow and per-node p50/p95/p99 (estimated from histogram buckets, as
``histogram_quantile`` would), hit rate by level, memory per process, coalesced runs. Deltas are
taken per process (a process that restarts counts from zero, like ``rate()``), so processes that
start or exit between samples never show as spikes or drops.

    view = AllProcesses(settings.data_dir / "metrics").start()
    view.counts()            # runs by status etc. over every process, read now
    view.series()            # [SeriesPoint, ...] one per second, oldest first
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry

from core.metrics.names import PREFIX
from core.metrics.quantiles import histogram_quantile
from core.metrics.shared import HOST, ProcessFile, ProcessFiles, SampleKey
from core.metrics.snapshot import SeriesPoint

_RUNS = f"{PREFIX}runs_total"
_WF = f"{PREFIX}workflow_duration_seconds_bucket"
_NODE = f"{PREFIX}node_duration_seconds_bucket"
_CACHE = f"{PREFIX}cache_events_total"
_COALESCED = f"{PREFIX}coalesced_total"
_QS = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class ProcessRow:
    """One process of the deployment, for the processes table."""

    key: str
    label: str
    role: str
    pid: int
    host: str
    alive: bool
    runs: float
    rss_bytes: float | None
    started_at: float
    written_at: float


@dataclass(frozen=True)
class MergedCounts:
    """Totals over every process in the directory (dead ones keep their counts)."""

    runs: dict[str, float]
    rejected: float
    active: float
    """Running workflows, summed over live processes."""
    queue_depth: float
    coalesced: dict[str, float]
    settings_version: int
    processes: int
    """Live processes."""


class AllProcesses:
    """Samples every process file once per ``interval_s``; ``series()`` has one point per sample.

    ``own``: this process's registry, read live instead of from its file (no half-second lag).
    """

    def __init__(
        self,
        directory: Path,
        *,
        interval_s: float = 1.0,
        series_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
        own: CollectorRegistry | None = None,
        own_role: str | None = None,
    ) -> None:
        self.files = ProcessFiles(directory, own=own, own_role=own_role)
        self.directory = Path(directory)
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, dict[SampleKey, float]] = {}
        self._last_file: dict[str, ProcessFile] = {}
        self._points: deque[SeriesPoint] = deque(maxlen=series_seconds)
        self._cache_deltas: deque[tuple[int, dict[tuple[str, str], list[float]]]] = deque(
            maxlen=series_seconds
        )
        self._primed = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._rss: dict[int, psutil.Process] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> AllProcesses:
        """Sample on a daemon thread (idempotent)."""
        if self._thread is None:
            self.sample()
            self._thread = threading.Thread(target=self._loop, name="metrics-merge", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            # wake just after each whole second, so a point covers one wall-clock second
            self._stop.wait(self.interval_s - (now % self.interval_s) + 0.02)
            with contextlib.suppress(Exception):  # a bad file must never end the sampler
                self.sample()

    # -- sampling --------------------------------------------------------------------------------

    def sample(self) -> SeriesPoint | None:
        """Read every file; append the change since the last sample as one point (None the first time)."""
        procs = self.files.read()
        t = int(self._clock())
        delta: dict[SampleKey, float] = {}
        with self._lock:
            for pf in procs:
                if self._last_file.get(pf.key) is pf:
                    continue  # unchanged file: no change to add
                prev = self._last.get(pf.key)
                if prev is None and not self._primed:
                    prev = pf.samples  # present at the first sample: a baseline, not new activity
                _add_delta(delta, prev or {}, pf.samples)
                self._last[pf.key] = pf.samples
                self._last_file[pf.key] = pf
            if not self._primed:
                self._primed = True
                return None
            point, cache = _point(t, delta, procs, self._rss_of)
            self._points.append(point)
            self._cache_deltas.append((t, cache))
            return point

    def _rss_of(self, pf: ProcessFile) -> float | None:
        if not pf.alive:
            return None
        if pf.host == HOST:
            try:
                proc = self._rss.get(pf.pid)
                if proc is None:
                    proc = self._rss[pf.pid] = psutil.Process(pf.pid)
                return float(proc.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                self._rss.pop(pf.pid, None)
                return None
        return pf.value("process_resident_memory_bytes") or None

    # -- reading ---------------------------------------------------------------------------------

    def series(self) -> list[SeriesPoint]:
        """One point per sampled second, oldest first."""
        with self._lock:
            return list(self._points)

    def processes(self) -> list[ProcessRow]:
        """Every process in the directory, read now."""
        return [
            ProcessRow(
                key=p.key,
                label=p.label,
                role=p.role,
                pid=p.pid,
                host=p.host,
                alive=p.alive,
                runs=p.value(_RUNS),
                rss_bytes=self._rss_of(p),
                started_at=p.started_at,
                written_at=p.written_at,
            )
            for p in self.files.read()
        ]

    def counts(self) -> MergedCounts:
        """Totals over every process, read now (not at the last sample)."""
        procs = self.files.read()
        runs: dict[str, float] = {}
        coalesced: dict[str, float] = {}
        rejected = active = queue = 0.0
        version = 0
        for p in procs:
            for (name, labels), v in p.samples.items():
                if name == _RUNS:
                    status = dict(labels).get("status", "")
                    runs[status] = runs.get(status, 0.0) + v
                elif name == _COALESCED:
                    level = dict(labels).get("level", "")
                    coalesced[level] = coalesced.get(level, 0.0) + v
                elif name == f"{PREFIX}rejected_total":
                    rejected += v
                elif name == f"{PREFIX}settings_version":
                    version = max(version, int(v))
                elif p.alive and name == f"{PREFIX}workflows_active":
                    active += v
                elif p.alive and name == f"{PREFIX}queue_depth":
                    queue += v
        alive = sum(1 for p in procs if p.alive)
        return MergedCounts(runs, rejected, active, queue, coalesced, version, alive)

    def hit_rate_by_node(self, range_s: float = 300) -> dict[str, dict[str, float | None]]:
        """``{level: {node: hits / (hits + misses)}}`` over the last ``range_s`` seconds."""
        since = self._clock() - range_s
        acc: dict[tuple[str, str], list[float]] = {}
        with self._lock:
            for t, cache in self._cache_deltas:
                if t < since:
                    continue
                for key, (h, m) in cache.items():
                    a = acc.setdefault(key, [0.0, 0.0])
                    a[0] += h
                    a[1] += m
        out: dict[str, dict[str, float | None]] = {}
        for (level, node), (h, m) in sorted(acc.items()):
            out.setdefault(level, {})[node] = h / (h + m) if h + m else None
        return out

    def node_estimates(self, range_s: float = 300) -> dict[str, dict[str, float | None]]:
        """Per node over every process and the last ``range_s`` s: count and bucket-estimated
        p50/p95/p99 (seconds), i.e. what a Prometheus chart would show."""
        return _estimates(self._window_buckets(_NODE, range_s))

    def _window_buckets(self, name: str, range_s: float) -> dict[str, dict[float, float]]:
        since = self._clock() - range_s
        acc: dict[str, dict[float, float]] = {}
        with self._lock:
            for p in self._points:
                if p.t < since:
                    continue
                for group, by_le in (p.buckets.get(name) or {}).items():
                    a = acc.setdefault(group, {})
                    for le, v in by_le.items():
                        a[le] = a.get(le, 0.0) + v
        return acc


def _add_delta(
    delta: dict[SampleKey, float], prev: dict[SampleKey, float], cur: dict[SampleKey, float]
) -> None:
    reset = any(
        cur.get(k, 0.0) < v for k, v in prev.items() if k[0].endswith(("_total", "_bucket", "_count"))
    )
    for k, v in cur.items():
        if not k[0].endswith(("_total", "_bucket", "_count", "_sum")):
            continue  # gauges are read as values, not changes
        d = v if reset else v - prev.get(k, 0.0)
        if d:
            delta[k] = delta.get(k, 0.0) + d


def _group_buckets(
    delta: dict[SampleKey, float], name: str, label: str | None
) -> dict[str, dict[float, float]]:
    out: dict[str, dict[float, float]] = {}
    for (n, labels), v in delta.items():
        if n != name:
            continue
        d = dict(labels)
        group = d.get(label, "") if label else "all"
        by_le = out.setdefault(group, {})
        le = float(d["le"])
        by_le[le] = by_le.get(le, 0.0) + v
    return out


def _quantiles(by_le: dict[float, float]) -> tuple[float | None, ...]:
    bounds = sorted(by_le)
    cumulative = [by_le[b] for b in bounds]
    if not bounds or bounds[-1] != math.inf or cumulative[-1] <= 0:
        return (None, None, None)
    return tuple(histogram_quantile(q, bounds, cumulative) for q in _QS)


def _estimates(groups: dict[str, dict[float, float]]) -> dict[str, dict[str, float | None]]:
    out = {}
    for group, by_le in sorted(groups.items()):
        p50, p95, p99 = _quantiles(by_le)
        out[group] = {"count": by_le.get(math.inf, 0.0), "p50": p50, "p95": p95, "p99": p99}
    return out


def _point(
    t: int,
    delta: dict[SampleKey, float],
    procs: Iterable[ProcessFile],
    rss_of: Callable[[ProcessFile], float | None],
) -> tuple[SeriesPoint, dict[tuple[str, str], list[float]]]:
    runs = errors = 0.0
    coalesced: dict[str, float] = {}
    cache: dict[tuple[str, str], list[float]] = {}
    for (name, labels), v in delta.items():
        if name == _RUNS:
            runs += v
            if dict(labels).get("status") == "error":
                errors += v
        elif name == _CACHE:
            d = dict(labels)
            if d.get("event") in ("hit", "miss"):
                hm = cache.setdefault((d.get("level", ""), d.get("node", "")), [0.0, 0.0])
                hm[d["event"] == "miss"] += v
        elif name == _COALESCED:
            level = dict(labels).get("level", "")
            coalesced[level] = coalesced.get(level, 0.0) + v
    wf = _group_buckets(delta, _WF, None).get("all", {})
    nodes = _group_buckets(delta, _NODE, "node")
    p50, p95, p99 = _quantiles(wf)
    node_q: dict[str, Any] = {n: q for n, by_le in nodes.items() if None not in (q := _quantiles(by_le))}
    by_level: dict[str, list[float]] = {}
    for (level, _node), (h, m) in cache.items():
        a = by_level.setdefault(level, [0.0, 0.0])
        a[0] += h
        a[1] += m
    hits, misses = sum(a[0] for a in by_level.values()), sum(a[1] for a in by_level.values())
    rss: dict[str, int] = {}
    active = 0.0
    version = 0
    for p in procs:
        if p.alive:
            r = rss_of(p)
            if r is not None:
                rss[p.label] = int(r)
            active += p.value(f"{PREFIX}workflows_active")
        version = max(version, int(p.value(f"{PREFIX}settings_version")))
    point = SeriesPoint.model_construct(
        t=t, runs=int(runs), errors=int(errors), p50=p50, p95=p95, p99=p99, nodes=node_q,
        hit_rate=hits / (hits + misses) if hits + misses else None,
        hit_rate_by_level={lv: (h / (h + m) if h + m else None) for lv, (h, m) in by_level.items()},
        rss_bytes=sum(rss.values()), active=int(active), settings_version=version,
        rss_by_process=rss, coalesced={k: int(v) for k, v in coalesced.items()},
        buckets={_NODE: nodes, _WF: {"all": wf}} if wf or nodes else {},
        estimated=True,
    )  # fmt: skip
    return point, cache


def describe(view: Any) -> str:
    """One line for a badge: how many processes the view sees."""
    c = view.counts()
    return f"{c.processes} live process{'es' if c.processes != 1 else ''} in {view.directory}"
