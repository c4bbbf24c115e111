"""The compiled research graph, node by node: parallel fan-out, sequential search, failed sources.

Real parts throughout: the stdlib index (twice, under two names, so two sources answer), the offline
model through ``Agents``, emulated remote latency from ``ResilientSource``; no engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from core.config import EngineSettings, LatencyProfile
from core.llm import Agents
from core.models import ResearchQuery
from core.runctx import RunContext, current_run
from core.sources.base import Source
from core.sources.indexed import IndexedSource
from core.sources.resilient import ResilientSource
from core.workflow.graph import build_graph
from core.workflow.nodes import WorkflowDeps, search_k
from tests.support.faulty import BrokenSource
from tests.workflow.conftest import QUESTION

SLOW = LatencyProfile(median_ms=150, sigma=0)


@pytest.fixture(scope="module")
def agents() -> Agents:
    return Agents()


def _sources(stdlib: IndexedSource, *extra: Source) -> dict[str, ResilientSource]:
    mirror = IndexedSource("mirror", "the stdlib index again", stdlib.index)
    return {s.name: ResilientSource(s, timeout_s=5, retries=0) for s in (stdlib, mirror, *extra)}


async def _run(
    sources: Mapping[str, Source], agents: Agents, settings: EngineSettings, max_sources: int = 3
) -> tuple[dict[str, Any], RunContext, dict[str, list[Any]]]:
    seen: dict[str, list[Any]] = {"validation": [], "failed": []}
    deps = WorkflowDeps(
        sources=sources,
        agents=agents,
        on_validation_error=lambda model, field: seen["validation"].append((model, field)),
        on_source_failure=seen["failed"].append,
    )
    graph = build_graph(deps, execution=settings.execution, model=agents.model_identity, ttl_s=60, cache=None)
    ctx = RunContext(run_id="workflow-test", settings=settings)
    token = current_run.set(ctx)
    try:
        query = ResearchQuery(question=QUESTION, max_sources=max_sources).model_dump(mode="json")
        state = await graph.ainvoke({"query": query})
    finally:
        current_run.reset(token)
    return state, ctx, seen


def _source_spans(ctx: RunContext) -> list[tuple[float, float]]:
    return sorted((s, e) for phase, s, e in ctx.spans if phase == "sources")


async def test_parallel_fan_out_searches_every_source_at_once(stdlib: IndexedSource, agents: Agents) -> None:
    settings = EngineSettings(execution="parallel", source_latency=SLOW)
    state, ctx, seen = await _run(_sources(stdlib), agents, settings)
    labels = [label for label, _, _ in ctx.node_runs]
    assert sorted(label for label in labels if label.startswith("search_sources")) == [
        "search_sources[mirror]",
        "search_sources[stdlib]",
    ]
    (_, a_end), (b_start, _) = _source_spans(ctx)
    assert b_start < a_end  # the second search began before the first ended: they overlapped
    assert {h["source"] for h in state["hits"]} == {"stdlib", "mirror"}  # the reducer joined both
    assert len(state["hits"]) == 2 * search_k(3)
    assert 1 <= len(state["findings"]) <= 3 and "[1]" in state["summary"]
    assert ctx.emulated is True
    # the model calls recorded on the run the nodes passed them (run=ctx), not on a context variable
    assert [p for p, _, _ in ctx.spans].count("llm") == 3 and ctx.tokens["input"] > 0
    assert seen == {"validation": [], "failed": []}


async def test_sequential_mode_searches_one_source_after_another(
    stdlib: IndexedSource, agents: Agents
) -> None:
    settings = EngineSettings(execution="sequential", source_latency=SLOW)
    state, ctx, _ = await _run(_sources(stdlib), agents, settings)
    assert [label for label, _, _ in ctx.node_runs if label.startswith("search")] == ["search_sources"]
    (_, a_end), (b_start, _) = _source_spans(ctx)
    assert b_start >= a_end
    assert {h["source"] for h in state["hits"]} == {"stdlib", "mirror"}


@pytest.mark.parametrize("execution", ["parallel", "sequential"])
async def test_a_failed_source_is_recorded_and_the_others_still_answer(
    stdlib: IndexedSource, agents: Agents, execution: str
) -> None:
    settings = EngineSettings(execution=execution)  # type: ignore[arg-type]
    state, ctx, seen = await _run(_sources(stdlib, BrokenSource()), agents, settings)
    assert state["failed_sources"] == [
        {"source": "broken", "reason": "backend unavailable (after 1 attempt)", "kind": "error"}
    ]
    assert seen["failed"] == ["broken"]
    assert ("source_failed", {"source": "broken", "reason": "backend unavailable (after 1 attempt)",
                              "kind": "error"}) in ctx.events  # fmt: skip
    assert {h["source"] for h in state["hits"]} == {"stdlib", "mirror"} and state["findings"]
    assert ctx.emulated is False


async def test_strict_copy_modes_validate_and_round_trip_every_node(
    stdlib: IndexedSource, agents: Agents
) -> None:
    """The naive preset's per-node work (codec round trip, strict validation) runs and finds nothing wrong."""
    naive = EngineSettings(
        execution="parallel", validation="strict", lazy_validation=False, state_handling="copy"
    )
    state, ctx, seen = await _run(_sources(stdlib), agents, naive)
    phases = {p for p, _, _ in ctx.spans}
    assert {"serialization", "validation", "sources", "llm"} <= phases
    assert seen["validation"] == [] and state["findings"]
    optimized, _, _ = await _run(_sources(stdlib), agents, EngineSettings())
    assert [f["doc_id"] for f in optimized["findings"]] == [f["doc_id"] for f in state["findings"]]
