"""The HTTP API over a real engine: results, field errors, overload, runs, settings auth, ops."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.config import EngineSettings, LatencyProfile
from tests.api.conftest import QUESTION, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CACHE_OFF = EngineSettings(cache="off")


async def test_research_returns_a_result_without_emulation_header(api_client: Any) -> None:
    async with api_client(CACHE_OFF) as (client, _app):
        r = await client.post("/research", json={"question": QUESTION, "max_sources": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["question"] == QUESTION and body["status"] == "ok"
    assert 1 <= len(body["findings"]) <= 3
    assert body["emulated"] is False and "x-researchops-emulated" not in r.headers


async def test_emulated_latency_is_labelled_in_body_and_header(api_client: Any) -> None:
    emulated = EngineSettings(cache="off", model_latency=LatencyProfile(median_ms=1, sigma=0))
    async with api_client(emulated) as (client, _app):
        r = await client.post("/research", json={"question": QUESTION})
    assert r.status_code == 200
    assert r.json()["emulated"] is True
    assert r.headers["x-researchops-emulated"] == "true"


async def test_bad_input_is_422_naming_the_field(api_client: Any) -> None:
    async with api_client() as (client, _app):
        short = await client.post("/research", json={"question": "short"})
        too_many = await client.post("/research", json={"question": QUESTION, "max_sources": 51})
        unknown = await client.post("/research", json={"question": QUESTION, "domains": ["nope"]})
        extra = await client.post("/research", json={"question": QUESTION, "colour": "red"})
    for r, field in [(short, "question"), (too_many, "max_sources"), (unknown, "domains"), (extra, "colour")]:
        assert r.status_code == 422, (field, r.text)
        detail = r.json()["detail"]
        assert any(field in d["loc"] for d in detail), (field, detail)
        assert all(d["msg"] for d in detail)
    assert "nope" in unknown.json()["detail"][0]["msg"]


async def test_overload_is_429_with_retry_after(api_client: Any) -> None:
    one_at_a_time = EngineSettings(
        cache="off", max_concurrent=1, queue_limit=0, model_latency=LatencyProfile(median_ms=100, sigma=0)
    )
    async with api_client(one_at_a_time) as (client, _app):
        rs = await asyncio.gather(
            *[client.post("/research", json={"question": f"{QUESTION} {i}"}) for i in range(4)]
        )
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) >= 1 and codes.count(429) >= 1, codes
    refused = next(r for r in rs if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert "overloaded" in refused.json()["detail"]


async def test_unknown_run_is_404(api_client: Any) -> None:
    async with api_client() as (client, _app):
        assert (await client.get("/runs/does-not-exist")).status_code == 404
        assert (await client.get("/runs/does-not-exist/events")).status_code == 404


async def test_async_submit_then_poll_the_run(api_client: Any) -> None:
    async with api_client(CACHE_OFF) as (client, _app):
        r = await client.post("/research", params={"async": "true"}, json={"question": QUESTION})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        deadline = time.monotonic() + 30
        while True:
            record = (await client.get(f"/runs/{run_id}")).json()
            if record["finished_at"] is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    assert record["run_id"] == run_id and record["status"] == "ok"
    assert record["result"]["question"] == QUESTION
    assert record["settings_version"] == 1


async def test_settings_change_needs_the_operator_token(api_client: Any) -> None:
    async with api_client() as (client, _app):
        assert (await client.put("/settings", json={"cache": "off"})).status_code == 401
        wrong = await client.put("/settings", json={"cache": "off"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        before = (await client.get("/settings")).json()
        ok = await client.put("/settings", json={"cache": "off", "max_concurrent": 8}, headers=AUTH)
        assert ok.status_code == 200, ok.text
        assert ok.json()["version"] == before["version"] + 1
        assert ok.json()["cache"] == "off" and ok.json()["preset"] is None
        assert (await client.get("/settings")).json() == ok.json()
        naive = await client.put("/settings", json={"preset": "naive"}, headers=AUTH)
        assert naive.json()["preset"] == "naive" and naive.json()["execution"] == "sequential"
        bad = await client.put("/settings", json={"max_concurrent": 0}, headers=AUTH)
        unknown = await client.put("/settings", json={"turbo": True}, headers=AUTH)
        empty = await client.put("/settings", json={}, headers=AUTH)
    assert bad.status_code == 422 and "max_concurrent" in bad.json()["detail"][0]["loc"]
    assert unknown.status_code == 422 and empty.status_code == 422


async def test_settings_changes_are_refused_when_no_token_is_configured(
    api_client: Any, api_settings: Any
) -> None:
    open_settings = api_settings.model_copy(update={"operator_token": None})
    async with api_client(settings=open_settings) as (client, _app):
        r = await client.put("/settings", json={"cache": "off"}, headers=AUTH)
    assert r.status_code == 403


async def test_metrics_health_and_readiness(api_client: Any) -> None:
    async with api_client(CACHE_OFF) as (client, _app):
        await client.post("/research", json={"question": QUESTION})
        metrics = await client.get("/metrics")
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'researchops_runs_total{status="ok"} 1.0' in metrics.text
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["checks"]["store"]["ok"] is True


async def test_readiness_says_degraded_naming_redis_when_it_is_down(
    api_client: Any, api_settings: Any, redis_server: Any
) -> None:
    """Redis down degrades the process (settings, cache and queue on their fallbacks) but it still
    answers, so readiness stays 200 (a 503 would pull every instance sharing that Redis) and
    names what is degraded."""
    with_redis = api_settings.model_copy(update={"redis_url": redis_server.url})
    async with api_client(CACHE_OFF, settings=with_redis) as (client, _app):
        first = await client.get("/readyz")
        assert first.status_code == 200 and first.json()["status"] == "ready"
        redis_server.kill()
        r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded" and body["checks"]["redis"]["ok"] is False
    assert {"settings", "cache", "queue"} <= set(body["degraded"])
    assert body["checks"]["store"]["ok"] is True and "store" not in body["degraded"]


async def test_openapi_documents_models_and_error_responses(api_client: Any) -> None:
    async with api_client() as (client, _app):
        schema = (await client.get("/openapi.json")).json()
    research = schema["paths"]["/research"]["post"]["responses"]
    assert {"200", "202", "422", "429"} <= set(research)
    assert "Retry-After" in research["429"]["headers"]
    assert research["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ResearchResult")
    assert "404" in schema["paths"]["/runs/{run_id}"]["get"]["responses"]
    assert {"401", "403", "422"} <= set(schema["paths"]["/settings"]["put"]["responses"])
    assert {"/metrics", "/healthz", "/readyz", "/runs/{run_id}/events"} <= set(schema["paths"])
