"""Real worker processes on a private Redis: spreading, live settings, SIGKILL redelivery, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import redis.asyncio as aioredis

from core.config import EngineSettings, LatencyProfile
from core.queue import GROUP, QUEUE, WorkerPool
from core.settings_sync import SettingsSync
from tests.support.wait import await_until, wait_until

QUESTION = "How do I run coroutines concurrently and wait for all of them"


def _slow(ms: float) -> EngineSettings:
    """Cache off and an emulated (labelled) model latency, so runs overlap and take a while."""
    return EngineSettings(cache="off", model_latency=LatencyProfile(median_ms=ms, sigma=0))


async def _seed(url: str, settings: EngineSettings) -> SettingsSync:
    sync = SettingsSync.from_url(url)
    assert await sync.publish(settings)
    return sync


async def _pending_owners(url: str) -> list[str]:
    """The consumers (worker ids) holding unacknowledged run messages, oldest first."""
    client = aioredis.Redis.from_url(url)
    try:
        if not await client.exists(QUEUE):
            return []
        rows = await client.xpending_range(QUEUE, GROUP, min="-", max="+", count=10)
        return [row["consumer"].decode() for row in rows]
    finally:
        await client.aclose()


async def _pending_owner(url: str) -> str | None:
    """The consumer (worker id) holding the oldest unacknowledged run message, if any."""
    client = aioredis.Redis.from_url(url)
    try:
        if not await client.exists(QUEUE):
            return None
        rows = await client.xpending_range(QUEUE, GROUP, min="-", max="+", count=10)
        return rows[0]["consumer"].decode() if rows else None
    finally:
        await client.aclose()


async def _has_two_pending(url: str) -> bool:
    return len(await _pending_owners(url)) == 2


async def test_runs_spread_over_workers_and_a_settings_change_reaches_all(
    redis_server: Any, start_worker: Any
) -> None:
    sync = await _seed(redis_server.url, _slow(150))
    workers = [start_worker(f"w{i}", concurrency=1) for i in range(2)]
    for w in workers:
        w.wait_ready()
    async with WorkerPool(redis_server.url, timeout_s=120) as pool:
        first = await asyncio.gather(*[pool.run_job(f"{QUESTION} {i}?") for i in range(6)])
        assert {j.worker_id for j in first} == {"w0", "w1"}
        assert all(j.result.status == "ok" and j.result.settings_version == 1 for j in first)
        assert all(j.result.emulated for j in first)  # emulated latency is labelled

        # a change made elsewhere (as the API or the dashboard would) reaches every worker
        new = _slow(150).updated(validation="strict")
        assert await sync.publish(new)
        second = await asyncio.gather(*[pool.run_job(f"{QUESTION} again {i}?") for i in range(6)])
    assert {j.worker_id for j in second} == {"w0", "w1"}
    assert {j.result.settings_version for j in second} == {new.version}
    await sync.aclose()


async def test_a_worker_killed_mid_run_loses_no_run(redis_server: Any, start_worker: Any) -> None:
    sync = await _seed(redis_server.url, _slow(700))
    workers = {w.worker_id: w for w in (start_worker("a", idle_timeout=2), start_worker("b", idle_timeout=2))}
    for w in workers.values():
        w.wait_ready()
    async with WorkerPool(redis_server.url, timeout_s=120) as pool:
        job = asyncio.create_task(pool.run_job(f"{QUESTION} killed?"))
        owner = await await_until(lambda: _pending_owner(redis_server.url))
        workers[owner].signal(signal.SIGKILL)
        done = await job
    survivor = ({"a", "b"} - {owner}).pop()
    assert done.worker_id == survivor and done.result.status == "ok"

    async def acknowledged() -> bool:
        return await _pending_owner(redis_server.url) is None

    # the reply is pushed before taskiq acknowledges (WHEN_SAVED), so the ack may trail the reply
    assert await await_until(acknowledged, 10, "the survivor's ack")
    await sync.aclose()


async def test_sigterm_finishes_in_flight_runs_then_exits(redis_server: Any, start_worker: Any) -> None:
    sync = await _seed(redis_server.url, _slow(300))
    w = start_worker("graceful", concurrency=2, idle_timeout=600, shutdown_timeout=60)
    w.wait_ready()
    async with WorkerPool(redis_server.url, timeout_s=120) as pool:
        jobs = [asyncio.create_task(pool.run_job(f"{QUESTION} term {i}?")) for i in range(2)]
        # both delivered (a message not yet taken simply stays queued for other workers)
        await await_until(lambda: _has_two_pending(redis_server.url))
        w.signal(signal.SIGTERM)
        done = await asyncio.gather(*jobs)
    assert [j.worker_id for j in done] == ["graceful", "graceful"]
    assert wait_until(lambda: w.proc.poll() is not None, 60, "the worker to exit") and w.proc.returncode == 0
    assert "stopped" in w.text()
    await sync.aclose()


async def test_sigterm_past_the_bound_hands_runs_back_to_another_worker(
    redis_server: Any, start_worker: Any
) -> None:
    sync = await _seed(redis_server.url, _slow(3000))
    quitter = start_worker("quitter", idle_timeout=600, shutdown_timeout=0.2)
    quitter.wait_ready()
    async with WorkerPool(redis_server.url, timeout_s=120) as pool:
        job = asyncio.create_task(pool.run_job(f"{QUESTION} handed back?"))
        assert await await_until(lambda: _pending_owner(redis_server.url)) == "quitter"
        quitter.signal(signal.SIGTERM)
        wait_until(lambda: quitter.proc.poll() is not None, 60, "the quitting worker to exit")
        assert quitter.proc.returncode == 0 and "handed 1 unfinished run(s) back" in quitter.text()
        # idle timeout 600 s: only the hand-back can explain the next worker taking the run
        taker = start_worker("taker", idle_timeout=600)
        taker.wait_ready()
        done = await job
    assert done.worker_id == "taker" and done.result.status == "ok"
    await sync.aclose()
