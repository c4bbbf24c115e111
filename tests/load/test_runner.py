"""The in-process load runner against a real engine: timeline shape and counting rules."""

from __future__ import annotations

from typing import Any

from core.config import LatencyProfile
from core.load.runner import LoadRunner, LoadShape, RateStep
from core.load.targets import EngineTarget
from core.load.workload import Workload, parse_mix
from tests.load.conftest import QUESTIONS


def _adds_up(s: dict[str, Any]) -> bool:
    return s["completed"] + s["errors"] + s["rejected"] == s["issued"] and s["in_flight"] == 0


async def test_closed_loop_timeline_has_one_entry_per_second_and_counts_add_up(engine: Any) -> None:
    ticks: list[dict[str, Any]] = []
    shape = LoadShape(users=4, duration_s=2.0, think_time_s=0.01, think="exponential", ramp_up_s=0.5)
    report = await LoadRunner(
        EngineTarget(engine), Workload(QUESTIONS, parse_mix("uniform")), shape, on_tick=ticks.append
    ).run()
    s = report.summary
    assert [e["t"] for e in report.timeline] == list(range(1, len(report.timeline) + 1))
    assert ticks == report.timeline
    # two full seconds of issuing, then the partial last second (drain)
    assert len(report.timeline) == 3 and all(e["span_s"] > 0.9 for e in report.timeline[:2])
    assert s["completed"] > 0 and _adds_up(s)
    assert sum(e["completed"] for e in report.timeline) == s["completed"]
    assert sum(e["issued"] for e in report.timeline) == s["issued"]
    assert s["hit_rate"] > 0  # 8 questions asked over and over: the cache answers most
    assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
    assert s["peak_rss_mb"] > 0 and s["emulated"] is False


async def test_open_loop_overload_is_rejected_and_still_adds_up(engine: Any) -> None:
    """Arrivals faster than one slot with no queue can serve: rejections, and every request counted."""
    engine.update_settings(
        max_concurrent=1, queue_limit=0, cache="off", model_latency=LatencyProfile(median_ms=50, sigma=0)
    )
    shape = LoadShape(
        mode="open", duration_s=1.5, rate=5, rate_steps=(RateStep(at_s=0.5, rate=200),), arrivals="uniform"
    )
    report = await LoadRunner(EngineTarget(engine), Workload(QUESTIONS, parse_mix("uniform")), shape).run()
    s = report.summary
    assert s["rejected"] > 0 and s["completed"] > 0 and _adds_up(s)
    assert s["emulated"] is True
    assert report.timeline[-1]["rate"] == 200


async def test_requests_in_flight_past_the_drain_bound_are_cancelled_errors(engine: Any) -> None:
    engine.update_settings(cache="off", model_latency=LatencyProfile(median_ms=3000, sigma=0))
    shape = LoadShape(users=3, duration_s=0.5, drain_s=0.2)
    report = await LoadRunner(EngineTarget(engine), Workload(QUESTIONS, parse_mix("uniform")), shape).run()
    s = report.summary
    assert s["issued"] == 3 and s["cancelled"] == 3 and s["errors"] == 3 and _adds_up(s)


async def test_seeded_runs_issue_the_same_question_sequence(engine: Any) -> None:
    """One user, no think: issue order is the sampler order, identical for the same seed."""

    async def questions(seed: int) -> list[str]:
        shape = LoadShape(users=1, duration_s=0.6, seed=seed)
        wl = Workload(QUESTIONS, parse_mix("zipf:1.2"), seed=seed)
        report = await LoadRunner(EngineTarget(engine), wl, shape, keep_outcomes=True).run()
        return [o.question for o in report.outcomes]

    for q in QUESTIONS:  # warm the cache: both runs then issue many questions in their short window
        await engine.run(q)
    a, b = await questions(5), await questions(5)
    n = min(len(a), len(b))
    assert n > 5 and a[:n] == b[:n]
    assert a[:n] == Workload(QUESTIONS, parse_mix("zipf:1.2"), seed=5).sampler().take(n)


class _Hang:
    """A target whose requests never finish (until cancelled): everything is left for the drain."""

    name = "hang"
    emulated = False

    async def call(self, question: str) -> Any:
        import asyncio

        await asyncio.get_running_loop().create_future()

    async def aclose(self) -> None:
        return None


async def test_thousands_in_flight_are_all_cancelled_at_the_drain_and_counted() -> None:
    # each of 3,000 users asks once and waits forever: 3,000 requests in flight at the deadline
    shape = LoadShape(users=3_000, duration_s=1.0, drain_s=0.05)
    report = await LoadRunner(_Hang(), Workload(QUESTIONS, parse_mix("uniform")), shape).run()
    s = report.summary
    assert s["issued"] == 3_000, s["issued"]
    assert s["cancelled"] == s["errors"] == s["issued"] and s["completed"] == 0 and _adds_up(s)
    assert sum(e["errors"] for e in report.timeline) == s["issued"]
