"""Against a real Prometheus scraping our /metrics every second (PromQL polled with a deadline)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from core.metrics import BUCKETS, Metrics
from core.metrics.promclient import Counts, PromClient, Timeseries
from core.metrics.source import MetricsSource
from tests.metrics.conftest import NODES
from tests.support.prometheus_server import PrometheusServer
from tests.support.wait import wait_until

DEADLINE_S = 30  # Prometheus scrapes for the first time within a few seconds of starting
PHASES = {"llm": 0.02, "sources": 0.01, "validation": 0.0, "serialization": 0.0, "cache": 0.0, "graph": 0.005}
BOUNDS = [*BUCKETS, float("inf")]


def _last(points: list[tuple[float, float]]) -> float:
    return points[-1][1]


def _all_nodes(client: PromClient, q: float) -> Timeseries | None:
    ts = client.node_latency(q, range_s=30)
    return ts if ts.series.keys() >= set(NODES) else None


def _scraped_at_zero(client: PromClient) -> None:
    """Wait until Prometheus holds the zero-valued series, so rate() sees the coming increase."""
    wait_until(
        lambda: client.instant('researchops_runs_total{status="ok"}', None)[0], DEADLINE_S, "first scrape"
    )


@pytest.mark.slow
def test_prometheus_agrees_with_the_recorded_runs(metrics: Metrics, prometheus: PrometheusServer) -> None:
    client = PromClient(prometheus.url, scrape_interval_s=1)
    assert client.window == "20s" and client.status().ok
    _scraped_at_zero(client)

    rng = np.random.default_rng(11)
    n = 240
    wf = rng.uniform(0.03, 0.8, n)
    node_s = {node: rng.lognormal(np.log(0.004 * (i + 1)), 0.7, n) for i, node in enumerate(NODES)}
    statuses = ["error" if i % 8 == 0 else "ok" for i in range(n)]  # 30 errors
    for i in range(n):
        nodes = [(node, float(node_s[node][i])) for node in NODES]
        metrics.observe_run(statuses[i], float(wf[i]), PHASES, nodes, 4)
        metrics.cache_event("l1", NODES[i % 4], "hit" if i % 4 else "miss")  # 3/4 hits

    # counts agree exactly
    def counted() -> Counts | None:
        counts = client.counts()
        return counts if counts.runs.get("ok") == n - 30 else None

    counts = wait_until(counted, DEADLINE_S, "runs_total")
    assert counts.runs == {"ok": n - 30, "error": 30, "partial": 0}
    per_node, _ = client.instant("sum by (node) (researchops_node_duration_seconds_count)", "node")
    assert per_node == dict.fromkeys(NODES, float(n))

    # quantiles over rate(...[20s]) agree with the recorded numbers within bucket resolution,
    # and with the in-process estimate from the same buckets
    snap = metrics.snapshot()
    for q, attr in ((0.5, "p50_est"), (0.95, "p95_est"), (0.99, "p99_est")):
        ts = wait_until(partial(_all_nodes, client, q), DEADLINE_S, f"node p{q}")
        for node in NODES:
            est = _last(ts.series[node])
            ranked = np.sort(node_s[node])[int(np.ceil(q * n)) - 1]
            k = int(np.searchsorted(BOUNDS, ranked, side="left"))
            # PromQL interpolates in floating point: at a bucket's edge it can read 0.05000000000000012
            low, high = (BOUNDS[k - 1] if k else 0.0), BOUNDS[k]
            assert low * (1 - 1e-9) <= est <= high * (1 + 1e-9), (node, q, est, ranked)
            assert est == pytest.approx(getattr(snap.nodes[node], attr), rel=1e-6)
        wf_est = _last(client.workflow_latency(q, range_s=30).series["all"])
        assert wf_est == pytest.approx(getattr(snap.workflow, attr), rel=1e-6)

    hit = client.cache_hit_rate(range_s=30)
    assert _last(hit.series["l1"]) == pytest.approx(0.75, rel=1e-6)
    by_node, status = client.hit_rate_by_node(range_s=60)  # the Metrics page's per-node bars
    assert status.ok and by_node["l1"][NODES[0]] == 0.0 and by_node["l1"][NODES[1]] == pytest.approx(1.0)
    assert _last(client.error_rate(range_s=30).series["all"]) == pytest.approx(30 / n, rel=1e-6)
    memory = client.memory(range_s=30)
    assert memory.status.ok and all(_last(p) > 1e6 for p in memory.series.values())
    assert _last(client.throughput(range_s=30).series["all"]) > 0


@pytest.mark.slow
def test_source_falls_back_to_the_process_when_prometheus_dies(
    metrics: Metrics, prometheus: PrometheusServer
) -> None:
    client = PromClient(prometheus.url, scrape_interval_s=1)
    source = MetricsSource(metrics, client, recheck_s=60)
    _scraped_at_zero(client)
    for _ in range(5):
        metrics.observe_run("ok", 0.05, PHASES, [("parse_query", 0.01)], 1)
    assert source.throughput(range_s=30).source == "prometheus"
    assert source.source_label == "prometheus" and source.status.ok

    prometheus.kill()

    status = client.status()
    assert not status.ok
    assert status.message == f"Prometheus at {prometheus.url}: connection refused"
    ts = source.throughput(range_s=60)  # no exception: the in-process series instead
    assert ts.source == "process" and source.source_label == "process"
    assert ts.status == status and "\n" not in ts.status.message
    counts = source.counts()
    assert counts.source == "process" and counts.runs["ok"] == 5
    # the per-second series holds the 5 runs once their second has closed
    wait_until(lambda: sum(v for _, v in source.throughput(range_s=60).series["all"]) == 5, 5, "series")
    reading = source.read(range_s=60)
    assert reading.origin == "process" and reading.snapshot.runs["ok"] == 5


def test_unconfigured_source_reads_the_process(metrics: Metrics) -> None:
    source = MetricsSource(metrics, None)
    metrics.observe_run("ok", 0.05, PHASES, [("parse_query", 0.01)], 1)
    assert source.node_latency(0.95).source == "process"
    assert source.source_label == "process" and "not configured" in source.status.message
