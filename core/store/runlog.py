"""A run's events handed to the event writer: a graph run's progress, or a run answered at once.

Pure glue between ``RunContext`` (events as plain ``(kind, data)`` pairs) and ``EventBuilder``;
the writer appends in the background and applies the event policy.
"""

from __future__ import annotations

from typing import Any

from core.components import process_owner
from core.models import ResearchQuery, ResearchResult
from core.runctx import RunContext
from core.store.events import EventBuilder
from core.store.writer import EventWriter


def log_answer(
    writer: EventWriter | None, query: ResearchQuery, run_id: str, settings: Any, result: ResearchResult
) -> None:
    """A run answered without a graph run (a cache hit, a coalesced follower): started + completed,
    only when the policy logs this run in full (under ``summary`` a burst's hits leave no rows)."""
    if writer is None or not writer.policy.logs_answers(run_id):
        return
    log = EventBuilder(run_id)
    started = log.started(query, settings.version, settings.modes())
    writer.put(
        [
            started.model_copy(update={"data": {**started.data, "owner": process_owner()}}),
            log.completed(result),
        ]
    )


def log_progress(
    writer: EventWriter,
    log: EventBuilder,
    ctx: RunContext,
    result: ResearchResult | None,
    start: int,
    *,
    final: bool = False,
) -> int:
    """Queue ``ctx.events[start:]`` (and, when ``final``, cache hits and the outcome); returns
    how many of ``ctx.events`` are now queued."""
    end = len(ctx.events)
    # RunContext keeps event kinds as plain str (it imports nothing); they are EventType names
    events = [log.emit(kind, **data) for kind, data in ctx.events[start:end]]  # type: ignore[arg-type]
    if final:
        for node in sorted(ctx.cache_hits):
            events.append(log.emit("node_finished", node=node, duration_s=0.0, cache_hit=True))
        if result is not None:
            events.append(log.completed(result))
    writer.put(events)
    return end
