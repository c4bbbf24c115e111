"""Engine metrics: one ``Metrics`` recorder fanning out to a Prometheus sink and an in-process one.

The engine calls the recorder's cheap methods (``observe_run``, ``cache_event`` ...) on the hot
path; ``snapshot()`` turns what was recorded into a ``MetricsSnapshot`` the dashboard reads with no
Prometheus at all. Rooms: ``recorder`` (write API), ``prometheus`` (prometheus_client objects,
multiprocess mode, ``/metrics``), ``snapshot`` (windows, series, models), ``quantiles`` (exact
percentiles, histogram_quantile), ``exposition`` (summarize ``/metrics`` text), ``promclient``
(read back from Prometheus), ``shared`` (each process's metrics file under ``<data_dir>/metrics``),
``merged`` (every process's files as totals and per-second series), ``source`` (what the
dashboard reads: Prometheus, else all local processes, else this one), ``profiling`` (phase
tables, profiler, memory).

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
"""

from core.metrics.names import BUCKETS, CACHE_EVENTS, RUN_STATUSES
from core.metrics.prometheus import PrometheusSink, mark_process_dead, multiprocess_enabled
from core.metrics.quantiles import histogram_quantile, percentile, percentiles
from core.metrics.recorder import Metrics, NullMetrics, Sink
from core.metrics.snapshot import LatencyStats, MetricsSnapshot, PhaseTotals, SeriesPoint, WindowSink

__all__ = [
    "BUCKETS",
    "CACHE_EVENTS",
    "RUN_STATUSES",
    "LatencyStats",
    "Metrics",
    "MetricsSnapshot",
    "NullMetrics",
    "PhaseTotals",
    "PrometheusSink",
    "SeriesPoint",
    "Sink",
    "WindowSink",
    "histogram_quantile",
    "mark_process_dead",
    "multiprocess_enabled",
    "percentile",
    "percentiles",
]
