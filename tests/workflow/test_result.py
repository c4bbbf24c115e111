"""Result assembly from a final graph state and from a whole-result cache hit (pure functions)."""

from __future__ import annotations

from core.models import ResearchQuery, RunStatus
from core.runctx import RunContext
from core.workflow.result import result_from_cache, result_from_state

QUERY = ResearchQuery(question="How do I run coroutines concurrently?")
FINDING = {
    "source": "stdlib",
    "doc_id": "a#0",
    "title": "asyncio.gather",
    "location": "asyncio.gather",
    "snippet": "Run awaitables concurrently.",
    "relevance": 0.9,
}


def _ctx() -> RunContext:
    ctx = RunContext(run_id="r-1", settings=None, t0=10.0)
    ctx.node_runs = [("generate_summary", 10.5, 10.75), ("parse_query", 10.0, 10.25)]
    ctx.cache_hits = {"analyze_findings", "parse_query"}
    return ctx


def test_state_becomes_a_result_with_timings_in_order_and_cache_hits_marked() -> None:
    state = {
        "findings": [FINDING],
        "summary": "Use gather [1].",
        "confidence": 0.8,
        "terms": ["gather"],
        "sources": ["stdlib", "packages"],
        "failed_sources": [],
    }
    result = result_from_state(QUERY, state, _ctx(), settings_version=3, model="offline", end=11.0)
    assert (result.run_id, result.query_id, result.status) == ("r-1", QUERY.id, RunStatus.OK)
    # by start time; a node served from the cache (and not run) shows as a zero-length hit
    assert [t.node for t in result.timings] == ["parse_query", "analyze_findings", "generate_summary"]
    assert [t.cache_hit for t in result.timings] == [False, True, False]
    assert result.timings[2].start_s == 0.5 and result.timings[2].duration_s == 0.25
    assert result.processing_time_s == 1.0 and abs(sum(result.phases.values()) - 1.0) < 1e-9
    assert result.sources_used == ["stdlib", "packages"] and result.settings_version == 3


def test_failed_sources_make_a_result_partial_or_an_error() -> None:
    failed = [{"source": "packages", "reason": "timeout"}]
    partial = result_from_state(
        QUERY,
        {"sources": ["stdlib", "packages"], "failed_sources": failed},
        _ctx(),
        settings_version=1,
        model="offline",
        end=11.0,
    )
    assert partial.status == RunStatus.PARTIAL and partial.sources_used == ["stdlib"]
    error = result_from_state(
        QUERY,
        {"sources": ["packages"], "failed_sources": failed},
        _ctx(),
        settings_version=1,
        model="m",
        end=11.0,
    )
    assert error.status == RunStatus.ERROR and error.sources_used == []


def test_a_cache_hit_is_relabelled_as_this_runs_answer() -> None:
    computed = result_from_state(
        QUERY, {"findings": [FINDING], "summary": "s"}, _ctx(), settings_version=1, model="m", end=11.0
    ).model_copy(update={"emulated": True})
    other = ResearchQuery(question="how do i run coroutines concurrently")
    ctx = RunContext(run_id="r-2", settings=None, t0=20.0)
    hit = result_from_cache(computed, other, ctx, settings_version=7, level="l2", end=20.001)
    assert (hit.run_id, hit.query_id, hit.cached, hit.emulated) == ("r-2", other.id, True, False)
    assert [(t.node, t.cache_hit) for t in hit.timings] == [("result_cache[l2]", True)]
    assert hit.settings_version == 7 and abs(hit.processing_time_s - 0.001) < 1e-9
    assert hit.findings == computed.findings and computed.run_id == "r-1"  # the original is untouched
