"""Pushed results, the load runner's workers target, and async API runs through the queue."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from core.api import create_app
from core.config import EngineSettings, LatencyProfile, Settings
from core.errors import RunNotFound
from core.load.runner import LoadRunner, LoadShape
from core.load.targets import WorkersTarget
from core.load.workload import Workload, parse_mix
from core.models import ResearchResult
from core.queue import QUEUE, WorkerPool, ok_reply, push_reply
from core.settings_sync import SettingsSync
from tests.support.wait import await_until

QUESTION = "How do I run coroutines concurrently and wait for all of them"


async def _first_task(url: str) -> tuple[str, str]:
    """(run_id, reply_to) of the first queued task, read straight from the stream."""
    client = aioredis.Redis.from_url(url)
    try:
        rows = await client.xrange(QUEUE, count=1)
        args = orjson.loads(rows[0][1][b"data"])["args"]
        return args[1], args[2]
    finally:
        await client.aclose()


async def _queued(url: str) -> bool:
    client = aioredis.Redis.from_url(url)
    try:
        return bool(await client.exists(QUEUE)) and await client.xlen(QUEUE) > 0
    finally:
        await client.aclose()


async def test_a_pushed_reply_resolves_the_waiting_run_without_any_result_backend(
    redis_server: Any, engine: Any
) -> None:
    """No worker at all: whoever pushes to the client's reply stream answers the request."""
    result: ResearchResult = await engine.run(f"{QUESTION}?")
    async with WorkerPool(redis_server.url, timeout_s=60) as pool:
        job = asyncio.create_task(pool.run_job(f"{QUESTION}?"))
        await await_until(lambda: _queued(redis_server.url))
        run_id, reply_to = await _first_task(redis_server.url)
        assert reply_to == pool.replies
        conn = aioredis.Redis.from_url(redis_server.url)
        await push_reply(conn, reply_to, ok_reply(run_id, "pusher", result))
        await push_reply(conn, reply_to, ok_reply(run_id, "duplicate", result))  # a redelivery: ignored
        done = await job
        await conn.aclose()
    assert done.run_id == run_id and done.worker_id == "pusher"
    assert done.result.summary == result.summary


async def test_the_workers_target_runs_a_burst_through_the_queue(
    redis_server: Any, start_worker: Any
) -> None:
    sync = SettingsSync.from_url(redis_server.url)
    assert await sync.publish(EngineSettings(model_latency=LatencyProfile(median_ms=20, sigma=0)))
    w = start_worker("wt", concurrency=8)
    w.wait_ready()
    questions = [f"{QUESTION} {i}?" for i in range(6)]
    target = WorkersTarget(redis_server.url, timeout_s=120)
    await target.start()
    try:
        shape = LoadShape(users=12, duration_s=1.5, think_time_s=0.05, drain_s=60)
        report = await LoadRunner(target, Workload(questions, parse_mix("uniform")), shape).run()
    finally:
        await target.aclose()
        await sync.aclose()
    s = report.summary
    assert s["target"] == "workers" and s["completed"] > 0 and s["errors"] == 0
    assert s["completed"] + s["errors"] + s["rejected"] == s["issued"] and s["in_flight"] == 0
    assert s["emulated"] is True  # the workers' emulated latency is labelled
    assert s["hit_rate"] > 0  # six questions asked over and over: the worker's cache answers


async def test_async_api_runs_go_through_the_queue_and_are_found_in_the_store(
    redis_server: Any, start_worker: Any, tmp_path: Path, index_dir: Path
) -> None:
    w = start_worker("api-w", concurrency=2)
    w.wait_ready()
    # the worker's data dir (tests/workers/conftest.py): the API reads the run store the worker writes
    settings = Settings(
        data_dir=tmp_path / "data",
        index_dir=index_dir,
        sources=("docs",),
        redis_url=redis_server.url,
        database_url=None,
        metrics_port=None,
        async_runs="workers",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            r = await client.post("/research?async=true", json={"question": f"{QUESTION} queued?"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]

            async def finished() -> dict[str, Any] | None:
                got = await client.get(f"/runs/{run_id}")
                body = got.json()
                return body if got.status_code == 200 and body["status"] == "ok" else None

            record = await await_until(finished, 120)
            # the API's own engine never ran it (not among its recent runs): the worker did
            with pytest.raises(RunNotFound):
                app.state.api.engine.get_record(run_id)
    assert record["run_id"] == run_id and record["result"]["summary"]
