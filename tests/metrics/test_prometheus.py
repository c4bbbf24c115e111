"""The Prometheus sink: every metric on /metrics; multiprocess mode (several processes record, any one
serves the sum)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import Metrics
from tests.metrics.conftest import PHASES

REPO = Path(__file__).resolve().parents[2]

RECORD = """
from core.metrics import Metrics
m = Metrics(nodes=["parse_query"])
assert m.multiprocess
for _ in range(7):
    m.observe_run("ok", 0.05, {"llm": 0.04, "graph": 0.01}, [("parse_query", 0.01)], 3)
m.set_active(2)
assert m.snapshot().runs["ok"] == 7  # the in-process view works in this mode too
"""

SERVE = """
from prometheus_client import generate_latest
from core.metrics import Metrics
print(generate_latest(Metrics().registry).decode())
"""


def _python(code: str, mp_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=_env(mp_dir), cwd=REPO, capture_output=True, text=True, timeout=60
    )


def _env(mp_dir: Path) -> dict[str, str]:
    # The variable must be set before prometheus_client is imported: the entry point's job.
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "PYTHONPATH": str(REPO)}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_one_process_serves_the_sum_of_all(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", RECORD], cwd=REPO, env=_env(tmp_path)) for _ in range(2)
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]

    served = _python(SERVE, tmp_path)
    assert served.returncode == 0, served.stderr
    samples = _samples(served.stdout)
    assert samples[("researchops_runs_total", (("status", "ok"),))] == 14
    assert samples[("researchops_node_duration_seconds_count", (("node", "parse_query"),))] == 14
    assert samples[("researchops_workflows_active", ())] == 4  # livesum over both writers
    assert samples[("researchops_settings_version", ())] == 3  # max
    assert ("researchops_resident_memory_bytes", (("pid", str(writers[0].pid)),)) in samples
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)

    # a dead worker's live gauges go once the supervisor says so
    Metrics.mark_process_dead(writers[0].pid, path=str(tmp_path))
    registry = CollectorRegistry()  # this test process is not in multiprocess mode: read the files
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("researchops_workflows_active") == 2
    assert registry.get_sample_value("researchops_runs_total", {"status": "ok"}) == 14


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
