"""The recorder: each observation is written once and fans out to both sinks."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from core.metrics import BUCKETS, Metrics, NullMetrics, histogram_quantile
from tests.metrics.conftest import NODES, PHASES


def test_one_call_reaches_each_sink_once() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, nodes=NODES)
    m.observe_run("ok", 0.05, PHASES, [("parse_query", 0.01)], 2)
    m.cache_event("l1", "parse_query", "hit")
    m.validation_error("Finding", "relevance")
    m.source_failure("stdlib")
    m.tokens(120, 40)
    m.rejected()
    m.set_active(3)
    m.set_queue_depth(4)
    snap = m.snapshot()
    value = reg.get_sample_value
    assert value("researchops_runs_total", {"status": "ok"}) == 1 and snap.runs["ok"] == 1
    assert value("researchops_node_duration_seconds_count", {"node": "parse_query"}) == 1
    assert snap.nodes["parse_query"].count == 1
    assert (
        value("researchops_cache_events_total", {"level": "l1", "node": "parse_query", "event": "hit"}) == 1
    )
    assert snap.cache_events["l1"]["parse_query"]["hit"] == 1
    assert value("researchops_validation_errors_total", {"model": "Finding", "field": "relevance"}) == 1
    assert snap.validation_errors == {"Finding.relevance": 1}
    assert value("researchops_source_failures_total", {"source": "stdlib"}) == 1
    assert snap.source_failures == {"stdlib": 1}
    assert value("researchops_model_tokens_total", {"kind": "input"}) == 120 and snap.tokens["input"] == 120
    assert value("researchops_rejected_total") == 1 and snap.rejected == 1
    assert value("researchops_workflows_active") == 3 and snap.active == 3
    assert value("researchops_queue_depth") == 4 and snap.queue_depth == 4
    assert value("researchops_settings_version") == 2 and snap.settings_version == 2
    m.set_settings_version(5)
    assert value("researchops_settings_version") == 5 and m.snapshot().settings_version == 5


def test_an_unknown_cache_event_reaches_neither_sink() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, nodes=NODES)
    with pytest.raises(ValueError, match="cache event 'hot'"):
        m.cache_event("l1", "parse_query", "hot")
    assert m.snapshot().cache_events == {}
    assert (
        reg.get_sample_value(
            "researchops_cache_events_total", {"level": "l1", "node": "parse_query", "event": "hot"}
        )
        is None
    )


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


def test_for_process_is_one_instance() -> None:
    assert Metrics.for_process() is Metrics.for_process()


def test_null_metrics_accepts_every_call() -> None:
    off = NullMetrics()
    assert off.observe_run("ok", 0.1, PHASES, [], 1) is None
    assert off.cache_event("l1", "parse_query", "anything") is None
