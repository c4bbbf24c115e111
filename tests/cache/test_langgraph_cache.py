"""LangGraphCache under a real compiled StateGraph: cached nodes replay their writes exactly."""

from __future__ import annotations

import operator
from collections import Counter
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy, Send

from core.cache.langgraph_cache import LangGraphCache
from core.cache.memory import MemoryCache
from core.cache.tiered import TieredCache
from core.codecs import get_codec
from core.runctx import RunContext, current_run


class State(TypedDict, total=False):
    question: str
    terms: list[str]
    findings: Annotated[list[dict[str, Any]], operator.add]
    failed_sources: list[str]
    summary: str


def build_graph(cache: LangGraphCache, runs: Counter[str]) -> Any:
    """parse (cached, fans out with Send) -> search x2 (not cached) -> analyze (cached)."""

    def parse(state: State) -> dict[str, Any]:
        runs["parse"] += 1
        return {"terms": state["question"].split()}

    def fan_out(state: State) -> list[Send]:
        return [Send("search", {"question": state["question"], "terms": [s]}) for s in ("stdlib", "docs")]

    def search(state: State) -> dict[str, Any]:
        runs["search"] += 1
        return {"findings": [{"source": state["terms"][0], "score": 1.5, "title": "Tâche «gather»"}]}

    def analyze(state: State) -> dict[str, Any]:
        runs["analyze"] += 1
        failed = ["remote"] if "broken" in state["question"] else []
        ranked = sorted(f["source"] for f in state["findings"])
        return {"summary": f"{len(state['terms'])} terms; {', '.join(ranked)}", "failed_sources": failed}

    policy = CachePolicy(
        key_func=lambda s: s["question"] + "|" + ",".join(sorted(map(str, s.get("findings", [])))), ttl=60
    )
    g = StateGraph(State)
    g.add_node("parse", parse, cache_policy=CachePolicy(key_func=lambda s: s["question"], ttl=60))
    g.add_node("search", search)
    g.add_node("analyze", analyze, cache_policy=policy)
    g.add_edge(START, "parse")
    g.add_conditional_edges("parse", fan_out, ["search"])
    g.add_edge("search", "analyze")
    g.add_edge("analyze", END)
    return g.compile(cache=cache)


@pytest.fixture(params=["l1", "sqlite", "redis"])
def make_tiered(request: pytest.FixtureRequest) -> Any:
    """Factory of TieredCaches; with an L2, each call is a fresh 'process' (empty L1) sharing that L2."""
    if request.param == "l1":
        shared = TieredCache(MemoryCache(100, 1 << 20), None, get_codec("ormsgpack"))
        return lambda: shared, "l1"
    l2 = request.getfixturevalue(f"{request.param}_l2")
    return lambda: TieredCache(MemoryCache(100, 1 << 20), l2, get_codec("orjson")), "l1+l2"


async def test_cached_nodes_replay_their_writes_with_the_same_result(make_tiered: Any) -> None:
    factory, levels = make_tiered
    runs: Counter[str] = Counter()
    first_cache = LangGraphCache(factory(), levels=levels)
    first = await build_graph(first_cache, runs).ainvoke({"question": "asyncio gather"})
    assert runs == Counter(parse=1, search=2, analyze=1)

    tiered = factory()
    ctx = RunContext(run_id="r2", settings=None, query_tag="q:test")
    token = current_run.set(ctx)
    try:
        second = await build_graph(LangGraphCache(tiered, levels=levels), runs).ainvoke(
            {"question": "asyncio gather"}
        )
    finally:
        current_run.reset(token)
    assert second == first
    # parse came from the cache, yet its Send fan-out was replayed: search ran again, analyze did not.
    assert runs == Counter(parse=1, search=4, analyze=1)
    assert ctx.cache_hits == {"parse", "analyze"}
    assert any(phase == "cache" for phase, _, _ in ctx.spans)
    hit_level = "l1" if levels == "l1" else "l2"
    assert tiered.stats()[hit_level]["namespaces"]["parse"]["hits"] == 1


async def test_writes_reporting_failed_sources_are_not_cached(make_tiered: Any) -> None:
    factory, levels = make_tiered
    runs: Counter[str] = Counter()
    cache = LangGraphCache(factory(), levels=levels)
    graph = build_graph(cache, runs)
    await graph.ainvoke({"question": "broken query"})
    out = await graph.ainvoke({"question": "broken query"})
    assert out["failed_sources"] == ["remote"]
    assert runs["parse"] == 1 and runs["analyze"] == 2


async def test_purge_by_query_tag_and_by_node() -> None:
    tiered = TieredCache(MemoryCache(100, 1 << 20), None, get_codec("msgpack"))
    runs: Counter[str] = Counter()
    graph = build_graph(LangGraphCache(tiered, levels="l1"), runs)
    token = current_run.set(RunContext(run_id="r1", settings=None, query_tag="q:one"))
    try:
        await graph.ainvoke({"question": "a b"})
    finally:
        current_run.reset(token)
    await graph.ainvoke({"question": "c d"})
    assert await tiered.purge(tag="q:one") == 2  # parse + analyze of the first query only
    await graph.ainvoke({"question": "a b"})
    await graph.ainvoke({"question": "c d"})
    assert runs["parse"] == 3 and runs["analyze"] == 3
    assert await tiered.purge(namespace="analyze") == 2
    await graph.ainvoke({"question": "c d"})
    assert runs["parse"] == 3 and runs["analyze"] == 4


async def test_cache_mode_off_bypasses_the_cache() -> None:
    tiered = TieredCache(MemoryCache(100, 1 << 20), None, get_codec("json"))
    runs: Counter[str] = Counter()
    graph = build_graph(LangGraphCache(tiered, levels="off"), runs)
    await graph.ainvoke({"question": "x"})
    await graph.ainvoke({"question": "x"})
    assert runs["parse"] == 2 and tiered.l1.size() == 0


async def test_aclear_removes_node_entries(sqlite_l2: Any) -> None:
    tiered = TieredCache(MemoryCache(100, 1 << 20), sqlite_l2, get_codec("ormsgpack"))
    cache = LangGraphCache(tiered, levels="l1+l2")
    await build_graph(cache, Counter()).ainvoke({"question": "x"})
    assert await sqlite_l2.size() == 2
    await cache.aclear()
    assert await sqlite_l2.size() == 0 and tiered.l1.size() == 0


def test_sync_invoke_uses_the_cache_through_a_private_loop(tmp_path: Any) -> None:
    from core.cache.sqlite import SQLiteL2

    l2 = SQLiteL2(tmp_path / "sync.sqlite3")
    runs: Counter[str] = Counter()
    caches = [
        LangGraphCache(TieredCache(MemoryCache(100, 1 << 20), l2, get_codec("orjson")), levels="l1+l2")
        for _ in range(2)
    ]
    try:
        first = build_graph(caches[0], runs).invoke({"question": "sync path"})
        ctx = RunContext(run_id="s", settings=None, query_tag="q:s")
        token = current_run.set(ctx)
        try:
            second = build_graph(caches[1], runs).invoke({"question": "sync path"})
        finally:
            current_run.reset(token)
        assert second == first
        assert runs["parse"] == 1 and runs["analyze"] == 1
        assert ctx.cache_hits == {"parse", "analyze"}
    finally:
        for c in caches:
            c.close()
        import asyncio

        asyncio.run(l2.close())


# ---- node-level singleflight: concurrent runs missing one node key --------------------------------


def gated_graph(cache: LangGraphCache, runs: Counter[str], gate: Any, outcome: str = "ok") -> Any:
    """One cached node that waits for ``gate``; its first call fails (``outcome="fail"``) or reports
    a failed source (``"partial"``, not cacheable)."""

    async def parse(state: State) -> dict[str, Any]:
        runs["parse"] += 1
        first = runs["parse"] == 1
        await gate.wait()
        if first and outcome == "fail":
            raise RuntimeError("parse failed")
        failed = ["remote"] if first and outcome == "partial" else []
        return {"terms": state["question"].split(), "failed_sources": failed}

    g = StateGraph(State)
    g.add_node("parse", parse, cache_policy=CachePolicy(key_func=lambda s: s["question"], ttl=60))
    g.add_edge(START, "parse")
    g.add_edge("parse", END)
    return g.compile(cache=cache)


async def _run_as(graph: Any, cache: LangGraphCache, run_id: str) -> tuple[Any, RunContext]:
    """One run as the engine does it: its own RunContext, claims released when it ends."""
    ctx = RunContext(run_id=run_id, settings=None, query_tag="q:gated")
    current_run.set(ctx)  # this task's own context copy
    try:
        return await graph.ainvoke({"question": "shared node key"}), ctx
    finally:
        cache.release(run_id)


async def _two_concurrent_runs(outcome: str) -> tuple[Any, Counter[str], list[str]]:
    import asyncio

    from tests.support.wait import await_until

    coalesced: list[str] = []
    cache = LangGraphCache(
        TieredCache(MemoryCache(100, 1 << 20), None, get_codec("ormsgpack")),
        levels="l1",
        on_coalesced=lambda: coalesced.append("node"),
    )
    runs: Counter[str] = Counter()
    gate = asyncio.Event()
    graph = gated_graph(cache, runs, gate, outcome)
    first = asyncio.create_task(_run_as(graph, cache, "a"))
    second = asyncio.create_task(_run_as(graph, cache, "b"))

    async def second_follows() -> bool:
        return cache.flights.flight.waiting == 1

    await await_until(second_follows, 10, "the second run waiting on the first one's node")
    assert runs["parse"] == 1
    gate.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert len(cache.flights.flight) == 0 and not cache.flights.claims
    return outcomes, runs, coalesced


async def test_concurrent_runs_missing_one_node_key_compute_it_once() -> None:
    (a, b), runs, coalesced = await _two_concurrent_runs("ok")
    assert runs["parse"] == 1 and coalesced == ["node"]
    assert a[0] == b[0]
    assert b[1].cache_hits == {"parse"} and not a[1].cache_hits


async def test_a_failed_leader_frees_its_followers_to_compute_the_node() -> None:
    (a, b), runs, coalesced = await _two_concurrent_runs("fail")
    assert isinstance(a, RuntimeError)
    assert runs["parse"] == 2 and coalesced == []
    assert b[0]["terms"] == ["shared", "node", "key"] and not b[1].cache_hits


async def test_uncacheable_writes_free_followers_to_compute_the_node() -> None:
    (a, b), runs, coalesced = await _two_concurrent_runs("partial")
    assert a[0]["failed_sources"] == ["remote"] and b[0]["failed_sources"] == []
    assert runs["parse"] == 2 and coalesced == []


async def test_runs_missing_the_same_keys_in_opposite_orders_never_wait_on_each_other(sqlite_l2: Any) -> None:
    """Lookups in L2 yield, so both runs can miss both keys before either claims one; a run waits
    only while it claims nothing, so one of them computes and the other gets its writes."""
    import asyncio

    cache = LangGraphCache(
        TieredCache(MemoryCache(100, 1 << 20), sqlite_l2, get_codec("orjson")), levels="l1+l2"
    )
    k1, k2 = (("__pregel_ns_writes", "search"), "k1"), (("__pregel_ns_writes", "search"), "k2")
    computed: list[tuple[str, Any]] = []

    async def superstep(run_id: str, keys: list[Any]) -> dict[Any, Any]:
        """What LangGraph does in one superstep: ask the cache, run the missed nodes, store them."""
        current_run.set(RunContext(run_id=run_id, settings=None))
        found = await cache.aget(keys)
        for k in keys:
            if k not in found:
                computed.append((run_id, k))
                found[k] = [("hits", [f"{k[1]} by {run_id}"])]
                await cache.aset({k: (found[k], 60)})
        cache.release(run_id)
        return found

    a, b = await asyncio.wait_for(asyncio.gather(superstep("a", [k1, k2]), superstep("b", [k2, k1])), 10)
    assert a == b  # the same writes, whoever computed them
    assert sorted(k for _, k in computed) == [k1, k2]  # each key computed once
    assert len(cache.flights.flight) == 0 and not cache.flights.claims
