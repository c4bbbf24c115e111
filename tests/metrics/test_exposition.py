"""Exposition: /metrics text (and a Prometheus server) summarized into counts and quantile estimates."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from core.metrics import BUCKETS, Metrics, histogram_quantile
from core.metrics.exposition import prometheus_summary, summarize_exposition
from core.metrics.promclient import PromClient
from tests.metrics.conftest import NODES, PHASES
from tests.support.ports import free_port
from tests.support.prometheus_server import PrometheusServer
from tests.support.wait import wait_until


def _recorded(m: Metrics, n: int = 200) -> dict[str, np.ndarray]:
    """``n`` runs (every 10th an error), node latencies per node, 3 hits per miss at l1."""
    rng = np.random.default_rng(5)
    node_s = {node: rng.lognormal(np.log(0.003 * (i + 1)), 0.6, n) for i, node in enumerate(NODES)}
    for i in range(n):
        status = "error" if i % 10 == 0 else "ok"
        m.observe_run(status, 0.1, PHASES, [(node, float(node_s[node][i])) for node in NODES], 6)
        m.cache_event("l1", NODES[i % 4], "hit" if i % 4 else "miss")
    m.cache_event("l2", "parse_query", "miss")
    m.rejected()
    m.set_active(2)
    m.set_queue_depth(1)
    return node_s


def test_summary_of_a_real_registry_counts_and_estimates() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, nodes=NODES)
    node_s = _recorded(m)
    summary = summarize_exposition(generate_latest(reg).decode())

    assert summary["runs"] == {"ok": 180.0, "error": 20.0, "partial": 0.0}
    assert summary["cache_hit_rate"] == {"l1": 0.75, "l2": 0.0}
    assert summary["rejected_total"] == 1 and summary["workflows_active"] == 2
    assert summary["queue_depth"] == 1 and summary["settings_version"] == 6
    assert summary["process_resident_memory_bytes"] > 1e6
    assert set(summary["nodes"]) == set(NODES)
    bounds = [*BUCKETS, float("inf")]
    snap = m.snapshot()
    for node in NODES:
        row = summary["nodes"][node]
        assert row["count"] == 200
        cum = np.cumsum(
            np.bincount(np.searchsorted(bounds, node_s[node], side="left"), minlength=len(bounds))
        )
        for q in (0.5, 0.95, 0.99):
            expected = histogram_quantile(q, bounds, cum)
            assert expected is not None
            assert row[f"p{int(q * 100)}_ms"] == round(expected * 1000, 3)
        # the same estimate the in-process snapshot shows for the same buckets
        assert row["p95_ms"] == pytest.approx((snap.nodes[node].p95_est or 0) * 1000, abs=1e-3)


def test_summary_of_empty_text_is_empty() -> None:
    assert summarize_exposition("") == {"runs": {}, "cache_hit_rate": {}, "nodes": {}}


def test_prometheus_summary_reports_an_unreachable_server_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = prometheus_summary(PromClient(url, scrape_interval_s=1))
    assert out == {"ok": False, "message": f"Prometheus at {url}: connection refused"}


@pytest.mark.slow
def test_prometheus_summary_agrees_with_the_exposition(
    metrics: Metrics, metrics_port: int, prometheus: PrometheusServer
) -> None:
    client = PromClient(prometheus.url, scrape_interval_s=1)
    wait_until(lambda: client.instant('researchops_runs_total{status="ok"}', None)[0], 30, "first scrape")
    _recorded(metrics)
    local = summarize_exposition(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text)

    def seen() -> dict | None:
        out = prometheus_summary(client, window_s=30)
        return out if out["ok"] and out["runs"].get("ok") == 180 and out["nodes"] else None

    remote = wait_until(seen, 30, "Prometheus to see every run")
    assert remote["runs"] == local["runs"]
    assert remote["rejected_total"] == local["rejected_total"] == 1
    assert remote["workflows_active"] == 2 and remote["queue_depth"] == 1
    assert set(remote["nodes"]) == set(NODES)
