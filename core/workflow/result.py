"""Result assembly: the graph's final state (or a cached result) -> ``ResearchResult``; pure functions."""

from __future__ import annotations

from typing import Any

from core.models import FailedSource, Finding, NodeTiming, ResearchQuery, ResearchResult, RunStatus
from core.runctx import RunContext


def result_from_state(
    query: ResearchQuery,
    state: dict[str, Any],
    ctx: RunContext,
    *,
    settings_version: int,
    model: str,
    end: float,
) -> ResearchResult:
    """The result of a run that ended at ``end`` (``perf_counter``) with ``state``.

    A source that failed is not "used"; status is ok, partial (some failed) or error (all failed).
    Nodes served by the per-node cache appear as zero-length ``cache_hit`` timings.
    """
    failed = [FailedSource(**f) for f in state.get("failed_sources", [])]
    failed_names = {f.source for f in failed}
    used = [s for s in state.get("sources", []) if s not in failed_names]
    timings = [NodeTiming(node=n, start_s=s - ctx.t0, duration_s=e - s) for n, s, e in ctx.node_runs]
    ran = {t.node.split("[")[0] for t in timings}
    timings += [
        NodeTiming(node=n, start_s=0.0, duration_s=0.0, cache_hit=True) for n in sorted(ctx.cache_hits - ran)
    ]
    timings.sort(key=lambda t: t.start_s)
    status = RunStatus.OK if not failed else (RunStatus.PARTIAL if used else RunStatus.ERROR)
    return ResearchResult(
        run_id=ctx.run_id,
        query_id=query.id,
        question=query.question,
        findings=[Finding(**f) for f in state.get("findings", [])],
        summary=state.get("summary", ""),
        confidence=state.get("confidence", 0.0),
        key_terms=state.get("terms", []),
        sources_used=used,
        failed_sources=failed,
        timings=timings,
        phases=ctx.phase_breakdown(end),
        processing_time_s=end - ctx.t0,
        status=status,
        emulated=ctx.emulated,
        settings_version=settings_version,
        model=model,
    )


def result_from_cache(
    cached: ResearchResult,
    query: ResearchQuery,
    ctx: RunContext,
    *,
    settings_version: int,
    level: str | None,
    end: float,
) -> ResearchResult:
    """A whole-result cache hit, re-labelled as this run's answer (its id, query, timing, version).

    Nothing was emulated in a hit, whatever the run that computed it did.
    """
    return cached.model_copy(
        update={
            "run_id": ctx.run_id,
            "query_id": query.id,
            "cached": True,
            "timings": [
                NodeTiming(
                    node=f"result_cache[{level}]", start_s=0.0, duration_s=end - ctx.t0, cache_hit=True
                )
            ],
            "phases": ctx.phase_breakdown(end),
            "processing_time_s": end - ctx.t0,
            "settings_version": settings_version,
            "emulated": False,
        }
    )
