"""Singleflight with real concurrency: identical in-flight misses share one graph run (one slot),
followers get the leader's answer or its typed error, and concurrent runs share node keys."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.cache.singleflight import LeaderGone, SingleFlight
from core.errors import ModelError
from core.models import Finding, ResearchQuery, RunStatus
from tests.support.wait import await_until

GATHER = "How do I run coroutines concurrently and wait for all of them?"
N = 8


class GatedAgents:
    """The engine's real agents, with the first call of every run (key terms) held at ``gate`` and
    counted: one call = one graph run. With ``error`` set, that call fails with it once released
    (fault injection, like tests/support/faulty's sources)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.gate, self.calls = inner, asyncio.Event(), 0
        self.error: Exception | None = None
        self.questions: list[str] = []

    async def key_terms(self, question: str, **kw: Any) -> Any:
        self.calls += 1
        self.questions.append(question)
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return await self.inner.key_terms(question, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class GatedSource:
    """A real source whose searches wait for ``gate`` and are counted."""

    def __init__(self, inner: Any, gate: asyncio.Event) -> None:
        self.inner, self.gate, self.calls = inner, gate, 0

    async def search(self, query: str, k: int, *, profile: Any = None) -> Any:
        self.calls += 1
        await self.gate.wait()
        return await self.inner.search(query, k, profile=profile)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def gated(engine: Any) -> GatedAgents:
    agents = GatedAgents(engine.deps.agents)
    engine.deps.agents = agents
    return agents


async def _until_followers(engine: Any, n: int) -> None:
    async def ready() -> bool:
        return engine.results.flight.waiting == n

    await await_until(ready, 30, f"{n} followers of the run in flight")


async def test_identical_concurrent_misses_share_one_graph_run_and_one_slot(
    engine: Any, gated: GatedAgents
) -> None:
    # one slot and no queue: without coalescing, N-1 of these would be refused with Overloaded
    engine.update_settings(max_concurrent=1, queue_limit=0)
    runs = [asyncio.create_task(engine.run(GATHER, run_id=f"r{i}")) for i in range(N)]
    await _until_followers(engine, N - 1)
    gated.gate.set()
    results = await asyncio.gather(*runs)

    assert gated.calls == 1  # exactly one graph run
    assert engine.c.metrics.snapshot().nodes["parse_query"].count == 1
    assert engine.c.metrics.snapshot().coalesced["result"] == N - 1
    leaders = [r for r in results if not r.coalesced]
    assert len(leaders) == 1 and not leaders[0].cached
    for r in results:
        assert r.status == RunStatus.OK
        assert r.findings == leaders[0].findings and r.summary == leaders[0].summary
    assert [r.run_id for r in results] == [f"r{i}" for i in range(N)]
    assert all(engine.get_record(f"r{i}").result.run_id == f"r{i}" for i in range(N))
    assert engine.results.flight.waiting == 0 and len(engine.results.flight) == 0
    # a follower's copy is its own: changing it leaves the others (and the cache) alone
    results[1].findings.clear()
    results[1].key_terms.append("changed")
    assert results[2].findings and "changed" not in results[2].key_terms
    if not Finding.model_config.get("frozen"):  # frozen findings are shared safely, else copied
        results[2].findings[0].title = "changed"
        assert results[3].findings[0].title != "changed"
    # the key left the flight when the leader finished: the next request is a plain cache hit
    again = await engine.run(GATHER)
    assert again.cached and not again.coalesced and gated.calls == 1


async def test_a_failing_leader_hands_every_follower_its_typed_error(engine: Any, gated: GatedAgents) -> None:
    gated.error = ModelError("key_terms agent (offline) failed: provider down")
    runs = [asyncio.create_task(engine.run(GATHER, run_id=f"f{i}")) for i in range(N)]
    await _until_followers(engine, N - 1)
    gated.gate.set()
    outcomes = await asyncio.gather(*runs, return_exceptions=True)
    assert all(isinstance(o, ModelError) and "provider down" in str(o) for o in outcomes), outcomes
    assert gated.calls == 1
    assert all(engine.get_record(f"f{i}").status == RunStatus.ERROR for i in range(N))
    assert engine.c.metrics.snapshot().runs["error"] == N  # every caller saw an error
    assert len(engine.results.flight) == 0
    gated.error = None  # the failure was not cached: the next request runs the graph again
    assert not (await engine.run(GATHER)).cached and gated.calls == 2


async def test_different_questions_do_not_coalesce(engine: Any, gated: GatedAgents) -> None:
    questions = [GATHER, "How can I serialize a dataclass to JSON?", "How do I parse command line arguments?"]
    runs = [asyncio.create_task(engine.run(q)) for q in questions]

    async def all_started() -> bool:
        return gated.calls == len(questions)

    await await_until(all_started, 30, "every question's graph run")
    assert engine.results.flight.waiting == 0
    gated.gate.set()
    results = await asyncio.gather(*runs)
    assert not any(r.coalesced for r in results)
    assert engine.c.metrics.snapshot().coalesced["result"] == 0


async def test_the_same_question_with_other_limits_is_another_key(engine: Any, gated: GatedAgents) -> None:
    runs = [asyncio.create_task(engine.run(ResearchQuery(question=GATHER, max_sources=n))) for n in (3, 5, 3)]

    async def two_runs_one_follower() -> bool:
        return gated.calls == 2 and engine.results.flight.waiting == 1

    await await_until(two_runs_one_follower, 30, "two graph runs and one follower")
    gated.gate.set()
    three, five, three_again = await asyncio.gather(*runs)
    assert (len(three.findings), len(five.findings)) == (3, 5)
    assert not three.coalesced and not five.coalesced and three_again.coalesced


async def test_concurrent_runs_of_different_questions_share_their_search_nodes(engine: Any) -> None:
    """Two phrasings (different result keys) with the same key terms ask every source the same
    search: the second run waits for the first one's search writes instead of searching again."""
    first, second = "How do I run coroutines concurrently?", "How can I run coroutines concurrently?"
    gate = asyncio.Event()
    sources = {name: GatedSource(src, gate) for name, src in engine.c.sources.items()}
    engine.c.sources.update(sources)
    flights = engine.c.graph_cache.flights.flight

    a = asyncio.create_task(engine.run(first))

    async def first_is_searching() -> bool:
        return all(s.calls == 1 for s in sources.values())

    await await_until(first_is_searching, 30, "the first run's searches")
    b = asyncio.create_task(engine.run(second))

    async def second_waits() -> bool:
        return flights.waiting == 1

    await await_until(second_waits, 30, "the second run waiting on a search in flight")
    gate.set()
    ra, rb = await asyncio.gather(a, b)
    assert all(s.calls == 1 for s in sources.values())  # every source searched once, for both runs
    assert not rb.coalesced and not rb.cached  # its own run, sharing only the search nodes
    assert {t.node for t in rb.timings if t.cache_hit} == {"search_sources"}
    assert engine.c.metrics.snapshot().coalesced["node"] >= 1
    assert [f.doc_id for f in ra.findings] == [f.doc_id for f in rb.findings]
    assert flights.waiting == 0 and len(flights) == 0


# ---- SingleFlight itself -----------------------------------------------------------------------


async def test_a_cancelled_follower_does_not_cancel_the_leader() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def work() -> int:
        await gate.wait()
        return 7

    leader = asyncio.create_task(flight.do("k", work))
    follower = asyncio.create_task(flight.do("k", work))
    await await_until(_async(lambda: flight.followers("k") == 1), 10, "a follower")
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    gate.set()
    assert await leader == (7, False)
    assert len(flight) == 0 and flight.waiting == 0


async def test_a_cancelled_leader_hands_the_work_to_a_follower() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    started: list[int] = []
    gate = asyncio.Event()

    async def work() -> int:
        started.append(1)
        await gate.wait()
        return len(started)

    leader = asyncio.create_task(flight.do("k", work))
    followers = [asyncio.create_task(flight.do("k", work)) for _ in range(3)]
    await await_until(_async(lambda: flight.waiting == 3), 10, "three followers")
    leader.cancel()
    await await_until(_async(lambda: len(started) == 2 and flight.waiting == 2), 10, "a new leader")
    gate.set()
    outcomes = sorted(await asyncio.gather(*followers))
    assert outcomes == [(2, False), (2, True), (2, True)]
    assert leader.cancelled() and len(flight) == 0


async def test_abandon_releases_followers_to_try_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    assert flight.join("k") is None  # the caller leads
    waiting = flight.join("k")
    assert waiting is not None
    follower = asyncio.create_task(flight.wait("k", waiting))
    await await_until(_async(lambda: flight.waiting == 1), 10, "a follower")
    flight.abandon("k")
    with pytest.raises(LeaderGone):
        await follower
    assert len(flight) == 0


def _async(probe: Any) -> Any:
    async def run() -> Any:
        return probe()

    return run
