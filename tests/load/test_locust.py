"""The HTTP target: Locust (its own process) against the real API (uvicorn, its own process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import Settings
from core.load.locust_target import LocustTarget
from core.load.runner import LoadRunner, LoadShape
from core.load.workload import Workload, parse_mix
from tests.load.conftest import QUESTIONS
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``uvicorn core.api:app_factory`` on a free port (docs source only, embedded backends)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PROMETHEUS_URL"}}
    env.update(
        RESEARCHOPS_DATA_DIR=str(settings.data_dir),
        RESEARCHOPS_INDEX_DIR=str(settings.resolved_index_dir),
        RESEARCHOPS_SOURCES='["docs"]',
        PYTHONPATH=str(REPO),
    )
    log = open(tmp_path / "api.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "core.api:app_factory",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()  # died: fail now
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 90, "the API to start", interval_s=0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _served(url: str) -> int:
    """Runs the API finished (any status) plus runs it refused, from its own /metrics."""
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text):
        if family.name in {"researchops_runs", "researchops_rejected"}:
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


async def test_locust_burst_counts_match_what_the_api_served(api_url: str, tmp_path: Path) -> None:
    before = _served(api_url)
    target = LocustTarget(api_url, tmp_path / "locust")
    shape = LoadShape(users=4, duration_s=3, think_time_s=0.05, drain_s=5)
    report = await LoadRunner(target, Workload(QUESTIONS, parse_mix("zipf:1.1"), seed=3), shape).run()
    s = report.summary
    assert s["completed"] > 0 and s["errors"] == 0
    assert s["completed"] + s["errors"] + s["rejected"] == s["issued"]
    assert s["locust"] is not None and s["locust"]["requests"] == s["issued"]
    assert _served(api_url) - before == s["issued"]
    assert [e["t"] for e in report.timeline] == list(range(1, len(report.timeline) + 1))
    assert s["hit_rate"] > 0
