"""The engine end to end on the real corpus: answers, fan-out, partial results, admission, cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.config import LatencyProfile
from core.errors import InvalidInput, Overloaded
from core.models import ResearchQuery, RunStatus
from tests.support.faulty import BrokenSource, HangingSource

GATHER = "How do I run coroutines concurrently and wait for all of them?"


def _resilient(inner: Any, timeout_s: float = 0.2) -> Any:
    from core.sources.resilient import ResilientSource

    return ResilientSource(inner, timeout_s=timeout_s, retries=1)


async def test_gather_question_finds_asyncio_gather_with_cited_summary(engine: Any) -> None:
    result = await engine.run(ResearchQuery(question=GATHER))
    assert result.status == RunStatus.OK
    top3 = [f.location for f in result.findings[:3]]
    assert any("gather" in loc or "TaskGroup" in loc for loc in top3), top3
    assert "[1]" in result.summary
    cited = {int(n) for n in __import__("re").findall(r"\[(\d+)\]", result.summary)}
    assert cited and max(cited) <= len(result.findings)
    nodes = {t.node.split("[")[0] for t in result.timings}
    assert nodes == {"parse_query", "search_sources", "analyze_findings", "generate_summary"}
    assert set(result.sources_used) == {"stdlib", "packages", "docs"}
    assert not result.emulated and not result.cached


async def test_parallel_fan_out_overlaps_and_sequential_does_not(engine: Any) -> None:
    slow = LatencyProfile(median_ms=40, sigma=0)
    engine.update_settings(cache="off", source_latency=slow, execution="parallel")
    par = await engine.run(GATHER)
    branches = [t for t in par.timings if t.node.startswith("search_sources[")]
    assert len(branches) == 3
    latest_start = max(t.start_s for t in branches)
    earliest_end = min(t.start_s + t.duration_s for t in branches)
    assert latest_start < earliest_end  # every branch was running at the same moment
    assert par.emulated  # emulated latency is labelled

    engine.update_settings(execution="sequential")
    seq = await engine.run(GATHER)
    assert [t.node for t in seq.timings if t.node.startswith("search")] == ["search_sources"]
    assert [f.doc_id for f in seq.findings] == [f.doc_id for f in par.findings]


async def test_a_failing_and_a_hanging_source_become_failed_sources_while_others_answer(engine: Any) -> None:
    broken, hanging = BrokenSource("broken"), HangingSource("hanging")
    engine.c.sources["broken"] = _resilient(broken)
    engine.c.sources["hanging"] = _resilient(hanging)
    engine.update_settings(cache="off")
    result = await engine.run({"question": GATHER, "domains": ["stdlib", "broken", "hanging"]})
    assert result.status == RunStatus.PARTIAL
    failed = {f.source: f.kind for f in result.failed_sources}
    assert failed == {"broken": "error", "hanging": "timeout"}
    assert broken.calls == 2 and hanging.calls == 2  # one retry each
    assert result.sources_used == ["stdlib"] and result.findings


async def test_when_every_source_fails_the_result_says_error(engine: Any) -> None:
    engine.c.sources["broken"] = _resilient(BrokenSource("broken"))
    result = await engine.run({"question": GATHER, "domains": ["broken"]})
    assert result.status == RunStatus.ERROR and result.findings == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"question": "too short"}, "question"),
        ({"question": "x" * 501}, "question"),
        ({"question": GATHER, "max_sources": 0}, "max_sources"),
        ({"question": GATHER, "max_sources": 51}, "max_sources"),
        ({"question": GATHER, "domains": ["nope"]}, "domains"),
    ],
)
async def test_bad_input_names_the_field(engine: Any, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await engine.run(payload)
    assert [e["field"] for e in info.value.errors] == [field]


async def test_overload_is_refused_at_once_and_admitted_runs_complete(engine: Any) -> None:
    engine.update_settings(
        cache="off", max_concurrent=2, queue_limit=1, model_latency=LatencyProfile(median_ms=30, sigma=0)
    )
    outcomes = await asyncio.gather(*(engine.run(GATHER) for _ in range(8)), return_exceptions=True)
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Overloaded)]
    assert len(done) == 3 and len(refused) == 5
    assert all(r.status == RunStatus.OK for r in done)
    assert engine.admission.active == 0


async def test_repeated_question_is_served_from_cache_with_the_same_answer(engine: Any) -> None:
    first = await engine.run(GATHER)
    second = await engine.run(GATHER)
    assert not first.cached and second.cached
    assert second.findings == first.findings and second.summary == first.summary


async def test_node_cache_serves_every_node_once_the_result_entry_is_purged(engine: Any) -> None:
    first = await engine.run({"question": GATHER, "max_sources": 5})
    assert await engine.purge_cache(node="result") >= 1
    again = await engine.run({"question": GATHER, "max_sources": 5})
    assert not again.cached
    assert {t.node for t in again.timings if t.cache_hit} == {
        "parse_query",
        "search_sources",
        "analyze_findings",
        "generate_summary",
    }
    assert again.findings == first.findings and again.summary == first.summary


async def test_a_different_max_sources_reuses_no_fan_out_computed_for_another(engine: Any) -> None:
    await engine.run({"question": GATHER, "max_sources": 5})
    wider = await engine.run({"question": GATHER, "max_sources": 8})
    assert not any(t.cache_hit for t in wider.timings)
    assert len(wider.findings) == 8


async def test_purging_a_question_forces_recomputation(engine: Any) -> None:
    await engine.run(GATHER)
    assert await engine.purge_cache(question=GATHER.upper() + "  ") >= 1  # normalized like the key
    again = await engine.run(GATHER)
    assert not again.cached and not any(t.cache_hit for t in again.timings)


async def test_naive_and_optimized_give_the_same_answer(engine: Any) -> None:
    engine.update_settings(preset="naive")
    naive = await engine.run(GATHER)
    engine.update_settings(preset="optimized")
    engine.update_settings(cache="off")
    fast = await engine.run(GATHER)
    assert [f.doc_id for f in naive.findings] == [f.doc_id for f in fast.findings]
    assert naive.summary == fast.summary


async def test_each_run_records_the_settings_version_it_started_under(engine: Any) -> None:
    engine.update_settings(cache="off", model_latency=LatencyProfile(median_ms=20, sigma=0.3))
    ids: list[tuple[str, int]] = []
    for i in range(50):
        version = engine.settings.version
        ids.append((engine.submit({"question": f"{GATHER} variant {i}"}), version))
        if i % 10 == 9:
            engine.update_settings(codec=["json", "orjson", "msgpack", "pickle", "ormsgpack"][i // 10])
    records = [await engine.wait(run_id, timeout=60) for run_id, _ in ids]
    assert all(r.status == RunStatus.OK for r in records), [r.error for r in records if r.error]
    assert [r.settings_version for r in records] == [v for _, v in ids]
    assert [r.result.settings_version for r in records] == [v for _, v in ids]


async def test_a_result_cache_hit_is_answered_while_every_slot_is_busy(engine: Any) -> None:
    """Hits need no workflow slot: they must not queue behind (or be refused for) slow runs."""
    await engine.run(GATHER)  # cached now
    engine.update_settings(
        max_concurrent=1, queue_limit=0, model_latency=LatencyProfile(median_ms=300, sigma=0)
    )
    slow = asyncio.create_task(engine.run("How do I parse command line arguments in a script?"))
    while engine.admission.active < 1:
        await asyncio.sleep(0.005)
    hit = await engine.run(GATHER)  # the only slot is held and the queue is empty: no room
    assert hit.cached and not slow.done()
    with pytest.raises(Overloaded):
        await engine.run("How can I serialize a dataclass to JSON?")  # a miss is still refused
    assert (await slow).status == RunStatus.OK


async def test_a_result_carries_its_run_id_fresh_or_from_the_cache(engine: Any) -> None:
    first = await engine.run(GATHER, run_id="fresh-1")
    hit = await engine.run(GATHER, run_id="hit-1")
    assert (first.run_id, first.cached) == ("fresh-1", False)
    assert (hit.run_id, hit.cached) == ("hit-1", True)
    assert engine.get_record("hit-1").result.run_id == "hit-1"


async def test_a_live_node_ttl_change_applies_to_node_cache_entries(engine: Any, settings: Any) -> None:
    """A graph compiled under one ``node_ttl_s`` is not reused after a live change to another."""
    import sqlite3
    import time

    def summary_ttl() -> float:
        with sqlite3.connect(settings.data_dir / "cache.sqlite") as db:
            (expires,) = db.execute(
                "SELECT max(expires_at) FROM cache_entries WHERE key LIKE 'generate_summary:%'"
            ).fetchone()
        return float(expires) - time.time()

    engine.update_settings(cache="l1+l2", node_ttl_s=100)
    await engine.run(GATHER)
    assert 90 < summary_ttl() <= 100
    await engine.purge_cache()
    engine.update_settings(node_ttl_s=5000)
    again = await engine.run(GATHER)
    assert not again.cached and not any(t.cache_hit for t in again.timings)
    assert 4990 < summary_ttl() <= 5000


def test_gc_pauses_nest_across_threads_and_restore_the_collector() -> None:
    """Index loads pause the collector (core.gc_policy.paused); parallel loads nest, and the
    collector is back on once the last one ends, only if it was on before."""
    import gc
    import threading

    from core.gc_policy import paused

    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def load() -> None:
        with paused():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=load)
    t.start()
    inside.wait(5)
    with paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other load is still running
    release.set()
    t.join(5)
    assert gc.isenabled()
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()
