"""A real engine scraped by a real Prometheus: PromQL agrees with what the engine counted."""

from __future__ import annotations

from typing import Any

import pytest

from core.config import EngineSettings, Settings
from core.factory import build_components, open_engine
from core.metrics import Metrics
from core.metrics.promclient import PromClient
from tests.metrics.conftest import NODES
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow
QUESTIONS = [
    "How do I run coroutines concurrently and wait for all of them?",
    "How do I parse command line arguments in a script?",
    "How can I serialize a dataclass to JSON?",
    "What does functools.lru_cache do with its arguments?",
]


async def test_promql_counts_match_the_engine_after_real_queries(
    settings: Settings, metrics: Metrics, prometheus: Any
) -> None:
    engine = await open_engine(
        lambda: build_components(settings, metrics=metrics, with_store=False), EngineSettings()
    )
    try:
        results = [await engine.run(q) for q in QUESTIONS * 3]  # each question: 1 miss, 2 result hits
    finally:
        await engine.aclose()
    cached = sum(r.cached for r in results)
    assert cached == 2 * len(QUESTIONS)
    prom = PromClient(prometheus.url, scrape_interval_s=1)

    def runs_seen() -> dict[str, float] | None:
        counts = prom.counts()
        return counts.runs if counts.runs.get("ok") == len(results) else None

    seen = wait_until(runs_seen, 30, "Prometheus to see every run")
    assert {k: v for k, v in seen.items() if v} == {"ok": float(len(results))}
    hits, status = prom.instant(
        'sum(researchops_cache_events_total{level="l1",node="result",event="hit"})', None
    )
    assert status.ok and hits["all"] == cached
    per_node, _ = prom.instant("sum by (node) (researchops_node_duration_seconds_count)", "node")
    # node timings are observed only for runs that executed the graph (the misses)
    assert {n: per_node.get(n) for n in NODES if n != "search_sources"} == {
        n: float(len(QUESTIONS)) for n in NODES if n != "search_sources"
    }
    assert per_node["search_sources"] == 3 * len(QUESTIONS)  # one per source branch
