"""Open-loop overload with the default limits: refused early (Overloaded / 429), admitted runs bounded.

The issue: ``queue_limit`` defaulted to 10,000, so an open loop at 500/s was never refused and
admitted runs waited ever longer (p95 26 s and rising). Now the queue is 4 x ``max_concurrent`` by
default and a run waits at most ``queue_deadline_s``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from core.admission import QUEUE_FACTOR
from core.config import EngineSettings, LatencyProfile, Settings
from core.factory import build_components, open_engine
from core.load.runner import LoadRunner, LoadShape
from core.load.targets import EngineTarget
from core.load.workload import Workload, parse_mix
from core.metrics import Metrics

LATENCY_MS = 2_000.0
"""Emulated (labelled) model latency: the engine drains 64 / 2 s = 32 runs per second."""


def _questions(n: int) -> list[str]:
    # distinct questions: every arrival is a real run (no result-cache hit, nothing coalesced)
    return [f"How does asyncio schedule coroutine batch number {i} concurrently?" for i in range(n)]


async def test_open_loop_overload_is_refused_with_default_limits(fault_settings: Settings) -> None:
    modes = EngineSettings(model_latency=LatencyProfile(median_ms=LATENCY_MS, sigma=0))
    assert modes.queue_limit is None and modes.queue_deadline_s is not None  # the defaults under test
    engine = await open_engine(lambda: build_components(fault_settings, metrics=Metrics()), modes)
    try:
        assert engine.admission.queue_limit == QUEUE_FACTOR * modes.max_concurrent
        shape = LoadShape(mode="open", rate=200, duration_s=3, arrivals="uniform", drain_s=60, seed=1)
        workload = Workload(_questions(2_000), parse_mix("uniform"), seed=1)
        report = await LoadRunner(EngineTarget(engine), workload, shape).run()
        waiting_after = engine.admission.waiting
        retry_after = engine.admission.retry_after()
    finally:
        await engine.aclose()
    s = report.summary
    print(
        "overload:",
        {k: s.get(k) for k in ("issued", "completed", "rejected", "errors", "cancelled", "p95_ms")},
    )
    assert s["rejected"] > 0, s
    assert s["completed"] > 0 and s["errors"] == 0 and s.get("cancelled", 0) == 0, s
    assert s["completed"] + s["rejected"] == s["issued"]
    # an admitted run waited at most the deadline, then ran: generous bound, not a timing test
    bound_ms = 1.5 * (modes.queue_deadline_s + LATENCY_MS / 1000) * 1000
    assert s["p95_ms"] is not None and s["p95_ms"] <= bound_ms, s
    assert waiting_after == 0
    assert 1.0 <= retry_after <= 60.0


async def test_the_api_answers_429_with_a_retry_after_from_the_drain_rate(
    fault_settings: Settings, api_client_factory: Any
) -> None:
    modes = EngineSettings(
        cache="off", max_concurrent=2, model_latency=LatencyProfile(median_ms=200, sigma=0)
    )  # queue: 8 by default
    async with api_client_factory(fault_settings, modes) as (client, app):
        warm = await asyncio.gather(*[client.post("/research", json={"question": q}) for q in _questions(4)])
        assert all(r.status_code == 200 for r in warm)  # the drain rate is now measured
        burst = await asyncio.gather(
            *[client.post("/research", json={"question": q}) for q in _questions(60)[4:]]
        )
    codes = [r.status_code for r in burst]
    assert set(codes) <= {200, 429} and codes.count(429) > 0 and codes.count(200) >= 2
    retry = {int(r.headers["Retry-After"]) for r in burst if r.status_code == 429}
    assert retry and all(1 <= v <= 60 for v in retry)
    assert app.state.api.engine.admission.drain.per_s > 0
