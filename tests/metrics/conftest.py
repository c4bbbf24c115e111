"""Fixtures for the metrics tests: a Metrics serving /metrics, and a private Prometheus scraping it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.metrics import Metrics
from tests.support.prometheus_server import PrometheusServer

NODES = ("parse_query", "search_sources", "analyze_findings", "generate_summary")
PHASES = {
    "llm": 0.012,
    "sources": 0.005,
    "validation": 0.001,
    "serialization": 0.001,
    "cache": 0.0,
    "graph": 0.001,
}
"""Per-phase seconds of one run (adds up to 0.02 s)."""


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    m = Metrics(nodes=NODES, sources=["stdlib", "packages"])
    try:
        yield m
    finally:
        m.close()


@pytest.fixture
def metrics_port(metrics: Metrics) -> int:
    return metrics.serve(0)


@pytest.fixture
def prometheus(metrics_port: int) -> Iterator[PrometheusServer]:
    """A real Prometheus (own port, own TSDB) scraping ``metrics`` every second."""
    with PrometheusServer([f"127.0.0.1:{metrics_port}"], scrape_interval="1s") as server:
        yield server
