"""The in-process side of Metrics: exact percentiles, estimates, hit rates, series, /metrics."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from core.metrics import BUCKETS, Metrics, histogram_quantile
from core.profiling import format_phase_table, phase_table
from tests.metrics.conftest import NODES

PHASES = {
    "llm": 0.012,
    "sources": 0.005,
    "validation": 0.001,
    "serialization": 0.001,
    "cache": 0.0,
    "graph": 0.001,
}


def test_exact_percentiles_equal_numpy_over_the_window() -> None:
    m = Metrics(nodes=NODES, window=500)
    rng = np.random.default_rng(1)
    wf = rng.lognormal(-3, 0.8, 1200)
    node = rng.uniform(0.001, 0.2, 1200)
    for w, n in zip(wf, node, strict=True):
        m.observe_run("ok", float(w), PHASES, [("analyze_findings", float(n))], 1)
    snap = m.snapshot()
    # Only the most recent 500 samples are kept; counts cover everything.
    assert snap.workflow.count == 1200 and snap.workflow.window == 500
    assert [snap.workflow.p50, snap.workflow.p95, snap.workflow.p99] == pytest.approx(
        list(np.percentile(wf[-500:], [50, 95, 99])), rel=1e-12
    )
    stats = snap.nodes["analyze_findings"]
    assert [stats.p50, stats.p95, stats.p99] == pytest.approx(list(np.percentile(node[-500:], [50, 95, 99])))
    assert stats.max == pytest.approx(node[-500:].max())


def test_in_process_estimate_matches_the_prometheus_histogram_buckets() -> None:
    """The *_est quantiles equal histogram_quantile over prometheus_client's own bucket counts."""
    reg = CollectorRegistry()
    m = Metrics(reg, nodes=NODES)
    samples = np.random.default_rng(2).uniform(0.001, 0.9, 300)
    for s in samples:
        m.observe_run("ok", 0.5, PHASES, [("parse_query", float(s))], 1)
    bounds = [*BUCKETS, float("inf")]
    cum = [
        reg.get_sample_value("researchops_node_duration_seconds_bucket", {"node": "parse_query", "le": le})
        or 0.0
        for le in [*(f"{b}" for b in BUCKETS), "+Inf"]
    ]
    assert cum[-1] == 300
    stats = m.snapshot().nodes["parse_query"]
    for q, est in ((0.5, stats.p50_est), (0.95, stats.p95_est), (0.99, stats.p99_est)):
        assert est is not None and est == pytest.approx(histogram_quantile(q, bounds, cum))
        # within bucket resolution: the estimate is inside the bucket holding the rank's sample
        ranked = np.sort(samples)[int(np.ceil(q * 300)) - 1]
        k = int(np.searchsorted(bounds, ranked, side="left"))
        assert (bounds[k - 1] if k else 0.0) <= est <= bounds[k]


def test_histogram_quantile_follows_promql_rules() -> None:
    inf = float("inf")
    assert histogram_quantile(0.5, [0.1, 0.2, inf], [0, 10, 10]) == pytest.approx(0.15)
    assert histogram_quantile(0.25, [0.1, 0.2, inf], [4, 8, 8]) == pytest.approx(0.05)  # first bucket from 0
    assert histogram_quantile(0.99, [0.1, 0.2, inf], [1, 2, 100]) == 0.2  # +Inf bucket: highest finite bound
    assert histogram_quantile(0.5, [0.1, inf], [0, 0]) is None


def test_cache_hit_rates_per_level_and_node() -> None:
    m = Metrics(nodes=NODES)
    for _ in range(3):
        m.cache_event("l1", "parse_query", "hit")
    m.cache_event("l1", "parse_query", "miss")
    m.cache_event("l1", "search_sources", "miss")
    m.cache_event("l2", "search_sources", "hit")
    m.cache_event("l2", "search_sources", "eviction")
    snap = m.snapshot()
    assert snap.cache_hit_rate["l1"] == {"parse_query": 0.75, "search_sources": 0.0}
    assert snap.cache_hit_rate_by_level == {"l1": 0.6, "l2": 1.0}
    assert snap.cache_events["l2"]["search_sources"]["eviction"] == 1
    with pytest.raises(ValueError, match="cache event 'hot'"):
        m.cache_event("l1", "parse_query", "hot")


def test_per_second_series_and_throughput_with_a_stepped_clock() -> None:
    now = [1000.2]
    m = Metrics(nodes=NODES, clock=lambda: now[0], throughput_window_s=4)
    m.observe_run("ok", 0.1, PHASES, [("parse_query", 0.01)], 1)
    m.cache_event("l1", "parse_query", "hit")
    now[0] = 1000.7
    m.observe_run("error", 0.3, PHASES, [("parse_query", 0.03)], 1)
    m.cache_event("l1", "parse_query", "miss")
    now[0] = 1001.1
    m.observe_run("ok", 0.2, PHASES, [], 2)
    now[0] = 1004.5  # seconds 1002 and 1003 were idle
    snap = m.snapshot()
    assert [p.t for p in snap.series] == [1000, 1001, 1002, 1003]
    first = snap.series[0]
    assert (first.runs, first.errors, first.hit_rate) == (2, 1, 0.5)
    assert first.p50 == pytest.approx(0.2) and first.nodes["parse_query"][0] == pytest.approx(0.02)
    assert [p.runs for p in snap.series[1:]] == [1, 0, 0] and snap.series[2].p95 is None
    assert snap.throughput_rps == pytest.approx(3 / 4)
    assert snap.runs == {"ok": 2, "error": 1, "partial": 0}
    # per-version phase totals
    assert snap.phases[1].runs == 2 and snap.phases[2].runs == 1
    assert snap.phases[1].seconds["llm"] == pytest.approx(0.024)


def test_phase_table_rows_add_up_and_format() -> None:
    m = Metrics()
    m.observe_run("ok", 0.1, {"llm": 0.048, "sources": 0.022, "graph": 0.030}, [], 3)
    rows = phase_table(m.snapshot())
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    assert rows[0].label == "LLM calls" and rows[0].per_run_ms == pytest.approx(48.0)
    assert format_phase_table(rows) == "LLM calls 48% · graph overhead 30% · sources 22%"


def test_metrics_endpoint_exposes_every_metric(metrics: Metrics, metrics_port: int) -> None:
    metrics.observe_run("ok", 0.05, PHASES, [("parse_query", 0.01)], 7)
    metrics.validation_error("Finding", "relevance")
    metrics.source_failure("stdlib")
    metrics.tokens(120, 40)
    metrics.set_active(3)
    metrics.set_queue_depth(5)
    metrics.rejected()
    assert metrics.serve(0) == metrics_port  # idempotent
    body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    for line in (
        'researchops_runs_total{status="ok"} 1.0',
        'researchops_validation_errors_total{field="relevance",model="Finding"} 1.0',
        'researchops_source_failures_total{source="stdlib"} 1.0',
        'researchops_model_tokens_total{kind="input"} 120.0',
        "researchops_workflows_active 3.0",
        "researchops_queue_depth 5.0",
        "researchops_rejected_total 1.0",
        "researchops_settings_version 7.0",
        'researchops_phase_duration_seconds_count{phase="llm"} 1.0',
        'researchops_cache_events_total{event="hit",level="l1",node="parse_query"} 0.0',
        'researchops_workflow_duration_seconds_bucket{le="0.001",status="ok"} 0.0',
        'researchops_workflow_duration_seconds_bucket{le="30.0",status="ok"} 1.0',
    ):
        assert line in body, line
    assert "process_resident_memory_bytes " in body


def test_for_process_is_one_instance() -> None:
    assert Metrics.for_process() is Metrics.for_process()
