"""What the Metrics page reads: Prometheus when configured and reachable, else every local process's
metrics merged from the metrics directory (``core.metrics.merged``), else this process's own.

``MetricsSource.read()`` returns one ``MetricsReading`` with every chart's series, the origin for
the badge, and this process's exact-percentile snapshot beside the merged bucket estimates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from core.config import Settings
from core.metrics.promclient import Counts, Points, PromClient, PrometheusStatus, Timeseries
from core.metrics.recorder import Metrics
from core.metrics.snapshot import MetricsSnapshot, SeriesPoint

_QUANTILE_INDEX = {0.5: 0, 0.95: 1, 0.99: 2}


@dataclass(frozen=True)
class MetricsReading:
    """One read of every chart's data. ``snapshot`` is always this process's (exact percentiles,
    phase table); the series come from ``origin``."""

    throughput: Timeseries
    workflow_latency: dict[float, Timeseries]
    node_latency: dict[float, Timeseries]
    """Keyed by quantile (0.5, 0.95, 0.99)."""
    cache_hit_rate: Timeseries
    error_rate: Timeseries
    memory: Timeseries
    counts: Counts
    snapshot: MetricsSnapshot
    origin: str
    """``prometheus``, ``processes`` (every process's metrics file, merged) or ``process`` (this one)."""
    status: PrometheusStatus
    coalesced: Timeseries | None = None
    hit_rate_by_node: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """``{level: {node: rate}}`` over the window, from the same origin."""
    node_estimates: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Merged view: per node count and bucket-estimated p50/p95/p99 (s) over every process."""
    processes: list[Any] = field(default_factory=list)
    """Merged view: ``core.metrics.merged.ProcessRow`` per process in the metrics directory."""


class MetricsSource:
    """Prometheus when configured and reachable, else this process's ``Metrics``. Never raises.

    After a failure Prometheus is retried at most every ``recheck_s`` seconds, so a dead server
    costs one short timeout per ``recheck_s``, not one per chart.

    >>> src = MetricsSource(Metrics(), None)
    >>> src.source_label, src.throughput().source
    ('process', 'process')
    """

    def __init__(
        self, metrics: Metrics, prom: PromClient | None, recheck_s: float = 15.0, merged: Any = None
    ) -> None:
        self.metrics = metrics
        self.prom = prom
        self.merged = merged
        """``core.metrics.merged.AllProcesses``: every process of this data dir (None = this one only)."""
        self.recheck_s = recheck_s
        self._status = (
            PrometheusStatus(
                False,
                "Prometheus not configured: showing "
                + ("every local process's metrics" if merged is not None else "this process's metrics"),
            )
            if prom is None
            else PrometheusStatus(False, f"Prometheus at {prom.url}: not checked yet")
        )
        self._use_prom = prom is not None
        self._failed_at = -math.inf

    @classmethod
    def from_settings(
        cls, settings: Settings, metrics: Metrics, scrape_interval_s: float = 5.0
    ) -> MetricsSource:
        """Prometheus at ``settings.prometheus_url`` when set (falling back when down), else in-process."""
        url = settings.prometheus_url
        return cls(
            metrics,
            PromClient(url, scrape_interval_s=scrape_interval_s) if url else None,
            merged=all_processes(
                settings.data_dir / "metrics",
                metrics.registry,
                metrics.exporter.role if metrics.exporter is not None else None,
            ),
        )

    @property
    def source_label(self) -> str:
        """``prometheus``, ``processes`` or ``process``: where the last answer came from."""
        return "prometheus" if self._use_prom else "processes" if self.merged is not None else "process"

    @property
    def status(self) -> PrometheusStatus:
        return self._status

    origin = source_label

    def read(self, range_s: float = 300) -> MetricsReading:
        """Everything a metrics page charts, from one source (Prometheus unless it failed)."""
        by_node: dict[str, dict[str, float | None]] = {}
        if self._try_prom():
            assert self.prom is not None
            by_node, st = self.prom.hit_rate_by_node(range_s)
            self._record(st)
        if not self._use_prom:
            by_node = (
                self.merged.hit_rate_by_node(range_s)
                if self.merged is not None
                else self.metrics.snapshot(series=False).cache_hit_rate
            )
        return MetricsReading(
            throughput=self.throughput(range_s),
            workflow_latency={q: self.workflow_latency(q, range_s) for q in (0.5, 0.95, 0.99)},
            node_latency={q: self.node_latency(q, range_s) for q in (0.5, 0.95, 0.99)},
            cache_hit_rate=self.cache_hit_rate(range_s),
            error_rate=self.error_rate(range_s),
            memory=self.memory(range_s),
            counts=self.counts(),
            snapshot=self.metrics.snapshot(),
            origin=self.source_label,
            status=self._status,
            coalesced=self.coalesced(range_s),
            hit_rate_by_node=by_node,
            node_estimates=self.merged.node_estimates(range_s) if self.merged is not None else {},
            processes=self.merged.processes() if self.merged is not None else [],
        )

    def coalesced(self, range_s: float = 300) -> Timeseries:
        def local(pts: list[SeriesPoint]) -> dict[str, Points]:
            out: dict[str, Points] = {}
            for p in pts:
                for level, n in p.coalesced.items():
                    out.setdefault(level, []).append((p.t, n))
            return out

        return self._pick(lambda p: p.coalesced(range_s), local, range_s)

    def snapshot(self) -> MetricsSnapshot:
        return self.metrics.snapshot()

    def throughput(self, range_s: float = 300) -> Timeseries:
        return self._pick(
            lambda p: p.throughput(range_s), lambda pts: {"all": [(p.t, p.runs) for p in pts]}, range_s
        )

    def node_latency(self, q: float = 0.95, range_s: float = 300) -> Timeseries:
        """Per node; in-process fallback: exact p50/p95/p99 (nearest) of each second's node runs."""
        i = _nearest_quantile(q)

        def local(pts: list[SeriesPoint]) -> dict[str, Points]:
            out: dict[str, Points] = {}
            for p in pts:
                for node, qs in p.nodes.items():
                    out.setdefault(node, []).append((p.t, qs[i]))
            return out

        return self._pick(lambda p: p.node_latency(q, range_s), local, range_s)

    def workflow_latency(self, q: float = 0.95, range_s: float = 300) -> Timeseries:
        attr = ("p50", "p95", "p99")[_nearest_quantile(q)]
        return self._pick(
            lambda p: p.workflow_latency(q, range_s),
            lambda pts: {"all": [(p.t, getattr(p, attr)) for p in pts if getattr(p, attr) is not None]},
            range_s,
        )

    def cache_hit_rate(self, range_s: float = 300) -> Timeseries:
        def local(pts: list[SeriesPoint]) -> dict[str, Points]:
            out: dict[str, Points] = {}
            for p in pts:
                for level, r in p.hit_rate_by_level.items():
                    if r is not None:
                        out.setdefault(level, []).append((p.t, r))
            return out

        return self._pick(lambda p: p.cache_hit_rate(range_s), local, range_s)

    def error_rate(self, range_s: float = 300) -> Timeseries:
        return self._pick(
            lambda p: p.error_rate(range_s),
            lambda pts: {"all": [(p.t, p.errors / p.runs) for p in pts if p.runs]},
            range_s,
        )

    def memory(self, range_s: float = 300) -> Timeseries:
        def local(pts: list[SeriesPoint]) -> dict[str, Points]:
            if self.merged is None:
                return {"this process": [(p.t, p.rss_bytes) for p in pts]}
            out: dict[str, Points] = {}
            for p in pts:
                for label, rss in p.rss_by_process.items():
                    out.setdefault(label, []).append((p.t, rss))
            return out

        return self._pick(lambda p: p.memory(range_s), local, range_s)

    def counts(self) -> Counts:
        if self._try_prom():
            assert self.prom is not None
            remote = self.prom.counts()
            if self._record(remote.status):
                return remote
        if self.merged is not None:
            c = self.merged.counts()
            return Counts(c.runs, c.rejected, c.active, c.queue_depth, self._status, "processes")
        snap = self.metrics.snapshot(series=False)
        return Counts(
            {k: float(v) for k, v in snap.runs.items()},
            float(snap.rejected),
            float(snap.active),
            float(snap.queue_depth),
            self._status,
            "process",
        )

    # -- internals -------------------------------------------------------------------------------

    def _pick(
        self,
        remote: Callable[[PromClient], Timeseries],
        local: Callable[[list[SeriesPoint]], dict[str, Any]],
        range_s: float,
    ) -> Timeseries:
        if self._try_prom():
            assert self.prom is not None
            ts = remote(self.prom)
            if self._record(ts.status):
                return ts
        since = time.time() - range_s
        series = self.merged.series() if self.merged is not None else self.metrics.series()
        points = [p for p in series if p.t >= since]
        return Timeseries(local(points), self._status, self.source_label)

    def _try_prom(self) -> bool:
        return self.prom is not None and (
            self._use_prom or time.monotonic() - self._failed_at >= self.recheck_s
        )

    def _record(self, status: PrometheusStatus) -> bool:
        self._status = status
        self._use_prom = status.ok
        if not status.ok:
            self._failed_at = time.monotonic()
        return status.ok


_VIEWS: dict[str, Any] = {}


def all_processes(directory: Path, own: Any = None, own_role: str | None = None) -> Any:
    """The one sampling ``AllProcesses`` view of ``directory`` in this process (started on first use).

    The first use also deletes files of processes that exited before this process started.
    """
    from core.metrics.merged import AllProcesses

    key = str(Path(directory).resolve())
    view = _VIEWS.get(key)
    if view is None:
        view = _VIEWS[key] = AllProcesses(Path(directory), own=own, own_role=own_role)
        view.files.clean_stale(before=psutil.Process().create_time())
        view.start()
    return view


def _nearest_quantile(q: float) -> int:
    return _QUANTILE_INDEX[min(_QUANTILE_INDEX, key=lambda k: abs(k - q))]
