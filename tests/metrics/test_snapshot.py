"""The in-process sink (through Metrics): exact percentiles over windows, hit rates, the series."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics import Metrics
from tests.metrics.conftest import NODES, PHASES


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
