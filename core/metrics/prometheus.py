"""The Prometheus sink: prometheus_client objects on one registry, multiprocess mode, ``/metrics``.

Multi-process: prometheus_client decides its storage when it is first imported. If the entry point
sets ``PROMETHEUS_MULTIPROC_DIR`` before that, every process writes its values to mmap files there
and the sink registers a ``MultiProcessCollector`` on its registry, so any one process's
``/metrics`` serves the sum over all of them (gauges: ``livesum``; settings_version: ``max``;
RSS per process as ``researchops_resident_memory_bytes{pid}``). The entry point must call
``mark_process_dead(pid)`` when a worker exits. Without the variable each process serves its own
``/metrics`` and Prometheus scrapes each (``deploy/prometheus.yml``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector, multiprocess, values
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import start_http_server

from core.metrics.names import BUCKETS, CACHE_EVENTS, COALESCE_LEVELS, PREFIX, RUN_STATUSES
from core.runctx import PHASES


def multiprocess_enabled() -> bool:
    """True when prometheus_client stores values in mmap files (``PROMETHEUS_MULTIPROC_DIR`` was set
    before it was imported). Read from the library's own state, not from the environment."""
    return values.ValueClass is not values.MutexValue


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Multiprocess mode: drop a dead worker's live gauges (call from the supervisor).

    ``path`` defaults to ``PROMETHEUS_MULTIPROC_DIR`` (read by prometheus_client).
    """
    multiprocess.mark_process_dead(pid, path)


class PrometheusSink:
    """Every metric as a prometheus_client object on ``registry``; serves ``/metrics``.

    ``nodes``/``sources``/``cache_levels`` pre-create their labelled series at zero, so ``rate()``
    sees the first increase.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        nodes: Iterable[str] = (),
        sources: Iterable[str] = (),
        cache_levels: Iterable[str] = ("l1", "l2"),
        multiprocess_dir: str | None = None,
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

        p = PREFIX
        self._wf = Histogram(f"{p}workflow_duration_seconds", "Workflow wall time", ["status"],
                             buckets=BUCKETS, registry=own)  # fmt: skip
        self._node = Histogram(f"{p}node_duration_seconds", "Graph node wall time", ["node"],
                               buckets=BUCKETS, registry=own)  # fmt: skip
        self._phase = Histogram(f"{p}phase_duration_seconds", "Per-run seconds attributed to a phase",
                                ["phase"], buckets=BUCKETS, registry=own)  # fmt: skip
        self._runs = PromCounter(f"{p}runs", "Finished runs", ["status"], registry=own)
        self._rejected = PromCounter(f"{p}rejected", "Runs refused by admission control", registry=own)
        self._coalesced = PromCounter(f"{p}coalesced", "Requests that shared an identical in-flight "
                                      "computation", ["level"], registry=own)  # fmt: skip
        self._coalesced_c = {lv: self._coalesced.labels(lv) for lv in COALESCE_LEVELS}
        self._degraded = PromCounter(f"{p}degraded", "Calls served by a fallback: a shared backend was down",
                                     ["component"], registry=own)  # fmt: skip
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
        for s in RUN_STATUSES:
            _child(self._wf_c, self._wf, s)
            _child(self._runs_c, self._runs, s)
        for ph in PHASES:
            _child(self._phase_c, self._phase, ph)
        levels = tuple(cache_levels)
        for n in nodes:
            _child(self._node_c, self._node, n)
            for lv in levels:
                for ev in CACHE_EVENTS:
                    self._cache_child(lv, n, ev)
        for s in sources:
            self._source_fail.labels(s)
        self._server: Any = None
        self._serve_lock = threading.Lock()

    # -- serving ---------------------------------------------------------------------------------

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP (port 0 = any free port); returns the bound port.

        Idempotent: a second call returns the port already serving.
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

    # -- the Sink methods ------------------------------------------------------------------------

    def observe_run(
        self,
        status: str,
        seconds: float,
        phases: Mapping[str, float],
        nodes: Sequence[tuple[str, float]],
        settings_version: int,
    ) -> None:
        (self._wf_c.get(status) or _child(self._wf_c, self._wf, status)).observe(seconds)
        (self._runs_c.get(status) or _child(self._runs_c, self._runs, status)).inc()
        for phase, s in phases.items():
            (self._phase_c.get(phase) or _child(self._phase_c, self._phase, phase)).observe(s)
        for node, s in nodes:
            (self._node_c.get(node) or _child(self._node_c, self._node, node)).observe(s)
        self._version.set(settings_version)

    def cache_event(self, level: str, node: str, event: str) -> None:
        key = (level, node, event)
        (self._cache_c.get(key) or self._cache_child(level, node, event)).inc()

    def validation_error(self, model: str, field: str) -> None:
        self._validation.labels(model, field).inc()

    def source_failure(self, source: str) -> None:
        self._source_fail.labels(source).inc()

    def tokens(self, input: int, output: int) -> None:
        self._tok_in.inc(input)
        self._tok_out.inc(output)

    def set_active(self, n: int) -> None:
        self._active.set(n)

    def set_queue_depth(self, n: int) -> None:
        self._queue.set(n)

    def set_settings_version(self, version: int) -> None:
        self._version.set(version)

    def rejected(self) -> None:
        self._rejected.inc()

    def coalesced(self, level: str) -> None:
        (self._coalesced_c.get(level) or self._coalesced.labels(level)).inc()

    def degraded(self, component: str) -> None:
        self._degraded.labels(component).inc()

    def set_rss(self, rss: int) -> None:
        """This process's resident memory; exported only in multiprocess mode (else the
        ProcessCollector reads it at scrape time)."""
        if self._rss_gauge is not None:
            self._rss_gauge.set(rss)

    def _cache_child(self, level: str, node: str, event: str) -> Any:
        child = self._cache_c[(level, node, event)] = self._cache.labels(level, node, event)
        return child


def _child(cache: dict[str, Any], metric: Any, label: str) -> Any:
    child = cache[label] = metric.labels(label)
    return child
