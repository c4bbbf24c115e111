"""Redis SIGKILLed under API load: no 500, no dropped connection, L2 hits back after the restart.

The issue: with ``REDIS_URL`` set and Redis killed, every ``POST /research`` and ``GET /settings``
was a 500 (the settings refresh raised ``ConnectionError``) and each 500 closed its keep-alive
connection (20 clients x 5.6 s outage: 1,482 x 500, 1,329 dropped). Here 20 keep-alive clients
drive a live uvicorn server through a Redis kill and restart; every answer must be a 200.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from core.config import EngineSettings, Settings
from tests.faults.metrics_text import counter
from tests.support.redis_server import RedisServer
from tests.support.wait import await_until

CLIENTS = 20
OUTAGE_S = 6.0
QUESTIONS = [f"How do I run coroutines concurrently, variant {i}?" for i in range(40)]
AFTER = [f"How do I cancel a task group cleanly, variant {i}?" for i in range(40)]
"""Asked only after the restart: misses, so their entries show L2 writes resuming."""


@dataclass
class Load:
    codes: Counter[int] = field(default_factory=Counter)
    dropped: list[str] = field(default_factory=list)
    done: int = 0
    questions: list[str] = field(default_factory=lambda: QUESTIONS)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def _client(url: str, n: int, load: Load) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)  # one keep-alive connection
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        i = n
        while not load.stop.is_set():
            i += 1
            try:
                if i % 5 == 0:
                    r = await client.get("/settings")
                else:
                    r = await client.post(
                        "/research", json={"question": load.questions[i % len(load.questions)]}
                    )
            except httpx.TransportError as exc:  # no response at all: a dropped connection
                load.dropped.append(f"{type(exc).__name__}: {exc}")
                continue
            load.codes[r.status_code] += 1
            load.done += 1


async def test_redis_killed_under_api_load(
    redis_server: RedisServer, fault_settings: Settings, live_api: Any
) -> None:
    settings = fault_settings.model_copy(update={"redis_url": redis_server.url})
    with live_api(settings, EngineSettings(cache="l1+l2")) as (url, _app):
        load = Load()
        clients = [asyncio.create_task(_client(url, n, load)) for n in range(CLIENTS)]
        try:

            async def after(n: int) -> bool:
                assert not any(c.done() for c in clients), [c.exception() for c in clients if c.done()]
                return load.done >= n

            await await_until(lambda: after(100), 120, "100 requests before the kill")
            redis_server.kill()  # SIGKILL
            killed_at, killed_t = load.done, time.monotonic()

            async def outage_long_enough() -> bool:  # as long as the (5.6 s), and busy
                return await after(killed_at + 400) and time.monotonic() - killed_t >= OUTAGE_S

            await await_until(outage_long_enough, 180, "a 6 s outage with 400+ requests")
            async with httpx.AsyncClient(base_url=url, timeout=30) as probe:
                ready = (await probe.get("/readyz")).json()
            during = load.done - killed_at
            redis_server.restart()
            back_at = load.done

            load.questions = AFTER

            def l2_keys() -> int:
                client = redis.Redis.from_url(redis_server.url)
                try:
                    return sum(1 for _ in client.scan_iter(match=b"ro:cache:k:result:*"))
                finally:
                    client.close()

            async def l2_written() -> int:
                return await asyncio.to_thread(l2_keys)

            await await_until(lambda: after(back_at + 200), 120, "200 requests after the restart")
            # L2 is written again once its back-off window passed: the new questions' entries
            await await_until(l2_written, 60, "result entries in the restarted Redis")
        finally:
            load.stop.set()
            await asyncio.gather(*clients, return_exceptions=True)
        async with httpx.AsyncClient(base_url=url, timeout=30) as probe:
            metrics = (await probe.get("/metrics")).text
            ready_after = (await probe.get("/readyz")).json()
    print(
        f"redis outage: {load.done} requests, codes {dict(load.codes)}, dropped {len(load.dropped)}, "
        f"{during} during the {OUTAGE_S:.0f} s outage; degraded calls "
        f"{counter(metrics, 'researchops_degraded_total')}"
    )
    assert load.dropped == [], load.dropped[:5]
    assert set(load.codes) == {200}, load.codes
    assert during >= 400
    assert ready["status"] == "degraded" and {"settings", "cache"} <= set(ready["degraded"])
    assert counter(metrics, "researchops_degraded_total", component="settings") > 0
    assert counter(metrics, "researchops_degraded_total", component="cache") > 0
    assert ready_after["checks"]["redis"]["ok"] is True
