"""A poisoned or foreign value in the shared Redis L2: nothing runs, the question is still answered.

The issue's reproduction: ``b"-|msgpack:" + Ext(0, ["os", "system", "touch …"])`` written into the
``…:result:…`` key made asking the question run the command, then fail with a traceback until
the entry expired. Here an API writes its entries to a private Redis, every value is replaced by
the payload, and a fresh API (empty L1, so it reads L2) answers the same question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import ormsgpack
import pytest
import redis

from core.config import EngineSettings, Settings
from tests.faults.metrics_text import counter
from tests.support.redis_server import RedisServer

QUESTION = "How do I run coroutines concurrently and wait for all of them?"
PREFIX = b"ro:cache:k:"


def exploit(marker: Path) -> bytes:
    return b"-|msgpack:" + ormsgpack.packb(
        ormsgpack.Ext(0, ormsgpack.packb(["os", "system", f"touch {marker}"]))
    )


def foreign(_marker: Path) -> bytes:
    """Decodes fine (our own tag and codec) but is not a ResearchResult / a node's writes."""
    return b"-|ro.ormsgpack:" + ormsgpack.packb({"run_id": 1, "answer": ["not", "ours"]})


def _plant(url: str, payload: bytes) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=PREFIX + b"*"))
        assert any(b":result:" in k for k in keys), f"no result entry was written: {keys}"
        for key in keys:
            client.set(key, payload)
        return keys
    finally:
        client.close()


@pytest.mark.parametrize("make", [exploit, foreign], ids=["exploit", "foreign"])
def test_a_planted_l2_value_runs_nothing_and_the_question_is_answered(
    redis_server: RedisServer, fault_settings: Settings, live_api: Any, tmp_path: Path, make: Any
) -> None:
    settings = fault_settings.model_copy(update={"redis_url": redis_server.url})
    modes = EngineSettings(cache="l1+l2")
    with live_api(settings, modes) as (url, _app):
        first = httpx.post(f"{url}/research", json={"question": QUESTION}, timeout=120)
        assert first.status_code == 200, first.text

    marker = tmp_path / "pwned"
    keys = _plant(redis_server.url, make(marker))

    with live_api(settings, modes) as (url, _app):  # a new process's view: empty L1, reads L2
        with httpx.Client(base_url=url, timeout=120) as client:
            r = client.post("/research", json={"question": QUESTION})
            again = client.post("/research", json={"question": QUESTION})
            metrics = client.get("/metrics").text
    assert not marker.exists(), "a value read from the shared cache ran a command"
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["findings"] and body["summary"] and body["cached"] is False  # recomputed
    assert again.status_code == 200 and again.json()["cached"] is True  # written back, good now
    assert counter(metrics, "researchops_cache_events_total", level="l2", node="result", event="corrupt") == 1
    assert counter(metrics, "researchops_cache_events_total", level="l2", event="corrupt") >= 2  # nodes too

    db = redis.Redis.from_url(redis_server.url)
    try:
        result_key = next(k for k in keys if b":result:" in k)
        value = db.get(result_key)
        assert value is not None and value != make(marker)  # replaced by the recomputed answer
    finally:
        db.close()
