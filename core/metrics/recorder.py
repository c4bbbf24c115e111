"""The write API the engine calls: ``Metrics`` fans each observation out to its sinks; ``NullMetrics``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from prometheus_client import CollectorRegistry

from core.metrics.names import CACHE_EVENTS
from core.metrics.prometheus import PrometheusSink, mark_process_dead
from core.metrics.shared import FileExporter
from core.metrics.snapshot import MetricsSnapshot, SeriesPoint, WindowSink


class Sink(Protocol):
    """Where observations go; each sink keeps its own representation of them."""

    def observe_run(
        self,
        status: str,
        seconds: float,
        phases: Mapping[str, float],
        nodes: Sequence[tuple[str, float]],
        settings_version: int,
    ) -> None: ...
    def cache_event(self, level: str, node: str, event: str) -> None: ...
    def validation_error(self, model: str, field: str) -> None: ...
    def source_failure(self, source: str) -> None: ...
    def tokens(self, input: int, output: int) -> None: ...
    def set_active(self, n: int) -> None: ...
    def set_queue_depth(self, n: int) -> None: ...
    def set_settings_version(self, version: int) -> None: ...
    def rejected(self) -> None: ...
    def coalesced(self, level: str) -> None: ...


class Metrics:
    """The metrics of one process: a ``PrometheusSink`` (``prometheus``, serving ``registry``) and
    a ``WindowSink`` (``windows``, read by ``snapshot()``), written together by every method.

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

    mark_process_dead = staticmethod(mark_process_dead)

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
        self.prometheus = PrometheusSink(
            registry,
            nodes=nodes,
            sources=sources,
            cache_levels=cache_levels,
            multiprocess_dir=multiprocess_dir,
        )
        self.registry = self.prometheus.registry
        self.multiprocess = self.prometheus.multiprocess
        self.windows = WindowSink(
            window=window,
            series_seconds=series_seconds,
            throughput_window_s=throughput_window_s,
            multiprocess=self.multiprocess,
            clock=clock,
            on_rss=self.prometheus.set_rss,
        )
        self._sinks: tuple[Sink, ...] = (self.prometheus, self.windows)
        self.exporter: FileExporter | None = None

    @classmethod
    def for_process(
        cls, *, metrics_dir: Path | None = None, role: str | None = None, **kwargs: Any
    ) -> Metrics:
        """The single intended process-wide instance, created on first call (later kwargs ignored).

        Cached on the class, i.e. at module level, so a Streamlit rerun (which re-executes the page
        script but not imported modules) never redefines the metrics. With ``metrics_dir`` (the
        entry points pass ``<data_dir>/metrics``) the process also writes its samples there every
        0.5 s, so one reader (``core.metrics.merged``) sees every process of the deployment;
        ``role`` names what the process is there (else it is read off the command line).

        >>> Metrics.for_process() is Metrics.for_process()
        True
        """
        with cls._process_lock:
            if cls._process is None:
                cls._process = cls(**kwargs)
            if metrics_dir is not None:
                cls._process.export_to(metrics_dir, role=role)
            return cls._process

    def export_to(self, metrics_dir: Path, interval_s: float = 0.5, role: str | None = None) -> FileExporter:
        """Write this process's samples to ``metrics_dir`` every ``interval_s`` (``core.metrics.shared``).

        Another directory than the one exported to so far moves the export there (the process now
        serves another data dir, whose readers would not see it otherwise); the old file is closed.
        """
        if self.exporter is not None and self.exporter.directory != Path(metrics_dir):
            self.exporter.close()
            role = role if role is not None else self.exporter.role
            self.exporter = None
        if self.exporter is None:
            self.exporter = FileExporter(metrics_dir, self.registry, interval_s, role=role).start()
        elif role is not None:  # the entry point that declares what the process is has the last word
            self.exporter.role = role
        return self.exporter

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP (port 0 = any free port); returns the bound port.

        Idempotent: a second call returns the port already serving.

        >>> m = Metrics(); port = m.serve(0); m.serve(0) == port
        True
        >>> m.close()
        """
        return self.prometheus.serve(port, addr)

    def close(self) -> None:
        """Stop the ``/metrics`` server and the file exporter, if any."""
        self.prometheus.close()
        if self.exporter is not None:
            self.exporter.close()

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
        for sink in self._sinks:
            sink.observe_run(status, seconds, phases, nodes, settings_version)

    def cache_event(self, level: str, node: str, event: str) -> None:
        """Count a cache ``event`` (hit, miss, error, eviction) at ``level`` for ``node``."""
        if event not in CACHE_EVENTS:
            raise ValueError(f"cache event {event!r}: expected one of {sorted(CACHE_EVENTS)}")
        for sink in self._sinks:
            sink.cache_event(level, node, event)

    def validation_error(self, model: str, field: str) -> None:
        for sink in self._sinks:
            sink.validation_error(model, field)

    def source_failure(self, source: str) -> None:
        for sink in self._sinks:
            sink.source_failure(source)

    def tokens(self, input: int, output: int) -> None:
        for sink in self._sinks:
            sink.tokens(input, output)

    def set_active(self, n: int) -> None:
        for sink in self._sinks:
            sink.set_active(n)

    def set_queue_depth(self, n: int) -> None:
        for sink in self._sinks:
            sink.set_queue_depth(n)

    def set_settings_version(self, version: int) -> None:
        """The EngineSettings version now in force (also set by every ``observe_run``)."""
        for sink in self._sinks:
            sink.set_settings_version(version)

    def rejected(self) -> None:
        for sink in self._sinks:
            sink.rejected()

    def coalesced(self, level: str) -> None:
        """Count a request that shared an identical in-flight computation (``result`` or ``node``)."""
        for sink in self._sinks:
            sink.coalesced(level)

    def degraded(self, component: str) -> None:
        """Count one call served by a fallback because ``component`` (settings, cache, queue,
        store) was down. Only the Prometheus sink keeps it (``researchops_degraded_total``)."""
        for sink in self._sinks:
            hook = getattr(sink, "degraded", None)
            if hook is not None:
                hook(component)

    # -- reading ---------------------------------------------------------------------------------

    def series(self) -> list[SeriesPoint]:
        """Per-second points (oldest first) up to the last whole second."""
        return self.windows.series()

    def snapshot(self, *, series: bool = True) -> MetricsSnapshot:
        """Everything recorded so far; exact percentiles from the raw windows (numpy).

        >>> Metrics().snapshot().workflow.count
        0
        """
        return self.windows.snapshot(series=series)


class NullMetrics:
    """Metrics switched off: the same methods, doing nothing (to measure what metrics cost)."""

    def __getattr__(self, name: str) -> Any:
        return _noop


def _noop(*args: Any, **kwargs: Any) -> None:
    return None
