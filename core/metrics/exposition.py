"""Exposition: a process's ``/metrics`` text (or a Prometheus server) summarized for a person.

Used by ``researchops metrics --url`` to report on any running engine (dashboard, API, worker)
without a Prometheus server: counts come straight from counters, latency quantiles are estimated
from histogram buckets exactly as PromQL's ``histogram_quantile`` would.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from core.metrics.names import PREFIX
from core.metrics.quantiles import histogram_quantile


def summarize_exposition(text: str) -> dict[str, Any]:
    """Runs by status, cache hit rate per level, per-node p50/p95/p99 estimates, memory.

    >>> summarize_exposition('researchops_runs_total{status="ok"} 3\\n')["runs"]
    {'ok': 3.0}
    """
    runs: dict[str, float] = {}
    cache: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    buckets: dict[str, dict[float, float]] = defaultdict(dict)
    scalars: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == f"{PREFIX}runs_total":
                runs[labels.get("status", "")] = runs.get(labels.get("status", ""), 0.0) + value
            elif name == f"{PREFIX}cache_events_total":
                cache[labels.get("level", "")][labels.get("event", "")] += value
            elif name == f"{PREFIX}node_duration_seconds_bucket":
                le = float(labels["le"])
                per_le = buckets[labels.get("node", "")]
                per_le[le] = per_le.get(le, 0.0) + value
            elif name in {
                f"{PREFIX}rejected_total",
                f"{PREFIX}workflows_active",
                f"{PREFIX}queue_depth",
                f"{PREFIX}settings_version",
                "process_resident_memory_bytes",
            }:
                scalars[name.removeprefix(PREFIX)] = scalars.get(name.removeprefix(PREFIX), 0.0) + value
    nodes = {}
    for node, by_le in sorted(buckets.items()):
        bounds = sorted(by_le)
        cumulative = [by_le[b] for b in bounds]
        if cumulative and cumulative[-1] > 0:
            nodes[node] = {
                "count": cumulative[-1],
                **{
                    f"p{int(q * 100)}_ms": _ms(histogram_quantile(q, bounds, cumulative))
                    for q in (0.5, 0.95, 0.99)
                },
            }
    hit_rate = {
        level: (ev["hit"] / (ev["hit"] + ev["miss"])) if ev["hit"] + ev["miss"] else None
        for level, ev in cache.items()
    }
    return {"runs": runs, "cache_hit_rate": hit_rate, "nodes": nodes, **scalars}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def prometheus_summary(prom: Any, window_s: float = 120) -> dict[str, Any]:
    """The same summary, read from a Prometheus server through a ``PromClient``.

    Returns ``{"ok": False, "message": ...}`` (one line) when the server cannot be reached.
    """
    status = prom.status()
    if not status.ok:
        return {"ok": False, "message": status.message}
    counts = prom.counts()
    nodes: dict[str, dict[str, float | None]] = defaultdict(dict)
    for q in (0.5, 0.95, 0.99):
        for node, value in _latest(prom.node_latency(q, range_s=window_s)).items():
            nodes[node][f"p{int(q * 100)}_ms"] = _ms(value)
    return {
        "ok": True,
        "message": status.message,
        "runs": counts.runs,
        "rejected_total": counts.rejected,
        "workflows_active": counts.active,
        "queue_depth": counts.queue_depth,
        "cache_hit_rate": _latest(prom.cache_hit_rate(range_s=window_s)),
        "throughput_rps": _latest(prom.throughput(range_s=window_s)).get("all"),
        "nodes": dict(nodes),
    }


def _latest(ts: Any) -> dict[str, float]:
    """The newest value of each series of a ``Timeseries``."""
    return {label: points[-1][1] for label, points in ts.series.items() if points}
