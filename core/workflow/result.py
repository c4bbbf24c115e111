"""Result assembly: the graph's final state (or a cached result) -> ``ResearchResult``; pure functions."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from core.models import FailedSource, Finding, NodeTiming, ResearchQuery, ResearchResult, RunStatus
from core.runctx import PHASES, RunContext

M = TypeVar("M", bound=BaseModel)


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


def _frozen(cls: type[BaseModel]) -> bool:
    return bool(cls.model_config.get("frozen"))


def _items(items: list[M]) -> list[M]:
    """A new list; its models copied unless their class is frozen (then sharing them is safe)."""
    if not items or _frozen(type(items[0])):
        return list(items)
    return [i.model_copy() for i in items]


def copy_result(result: ResearchResult, **update: Any) -> ResearchResult:
    """A copy sharing nothing a caller can change with ``result`` (new lists and dict; findings,
    timings and failed sources copied unless their models are frozen), with ``update`` applied;
    far cheaper than ``model_copy(deep=True)``. Used wherever one cached or shared result is
    handed to several callers."""
    fresh: dict[str, Any] = {
        "key_terms": list(result.key_terms),
        "sources_used": list(result.sources_used),
        "phases": dict(result.phases),
    }
    for name in ("findings", "timings", "failed_sources"):
        if name not in update:
            fresh[name] = _items(getattr(result, name))
    fresh.update(update)
    return result.model_copy(update=fresh)


def sequential_phases(ctx: RunContext, end: float) -> dict[str, float]:
    """``ctx.phase_breakdown(end)`` for a run whose spans never overlap (a cache hit): per-phase
    sums, the rest is ``graph``; overlapping spans take the general attribution."""
    out = dict.fromkeys(PHASES, 0.0)
    last = ctx.t0
    for phase, start, stop in ctx.spans:
        if start < last or stop > end:
            return ctx.phase_breakdown(end)
        out[phase] = out.get(phase, 0.0) + (stop - start)
        last = stop
    out["graph"] += (end - ctx.t0) - sum(out.values())
    return out


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

    Nothing was emulated in a hit, whatever the run that computed it did. ``cached`` itself is
    never handed out (it may be the cache's own object): the answer is a ``copy_result``.
    """
    return copy_result(
        cached,
        **{
            "run_id": ctx.run_id,
            "query_id": query.id,
            "cached": True,
            "timings": [
                NodeTiming(
                    node=f"result_cache[{level}]", start_s=0.0, duration_s=end - ctx.t0, cache_hit=True
                )
            ],
            "phases": sequential_phases(ctx, end),
            "processing_time_s": end - ctx.t0,
            "settings_version": settings_version,
            "emulated": False,
            "coalesced": False,
        },
    )


def result_for_follower(
    leader: ResearchResult, query: ResearchQuery, run_id: str, *, settings_version: int, wall_s: float
) -> ResearchResult:
    """The answer of a run that shared an identical in-flight run (``coalesced``): the leader's
    result under this run's id, query and settings version, taking ``wall_s``. Its timings and
    phases stay the leader's: they describe how the answer was made."""
    return copy_result(
        leader,
        run_id=run_id,
        query_id=query.id,
        coalesced=True,
        processing_time_s=wall_s,
        settings_version=settings_version,
    )
