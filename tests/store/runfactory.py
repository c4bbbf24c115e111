"""Realistic event streams for store tests (also used by the multi-process writer script)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.config import EngineSettings
from core.models import Finding, ResearchQuery, ResearchResult, RunStatus
from core.store.events import EventBuilder, RunEvent

NODES = ("parse_query", "search_sources", "analyze_findings", "generate_summary")
SOURCES = ("stdlib", "packages", "docs")


def hit(source: str, run_id: str) -> dict[str, Any]:
    return {"source": source, "doc_id": f"{source}-{run_id}", "title": f"{source} doc", "score": 1.5}


def state_updates(run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The plain state delta(s) each node writes, in order."""
    return {
        "parse_query": [
            {"terms": ["gather", "coroutines"], "normalized": "gather coroutines"},
            {"query_id": run_id},
        ],
        "search_sources": [
            *({"hits": [hit(s, run_id)]} for s in SOURCES),
            {"failed_sources": [{"source": "remote", "reason": "emulated timeout", "kind": "timeout"}]},
        ],
        "analyze_findings": [{"terms": ["gather"], "findings": [{"doc_id": f"stdlib-{run_id}"}]}],
        "generate_summary": [{"summary": f"answer for {run_id} [1]"}, {"confidence": 0.8}],
    }


def expected_state(run_id: str) -> dict[str, Any]:
    """What folding ``state_updates`` must give: hits/failed_sources appended, the rest replaced."""
    return {
        "terms": ["gather"],
        "query_id": run_id,
        "normalized": "gather coroutines",
        "hits": [hit(s, run_id) for s in SOURCES],
        "failed_sources": [{"source": "remote", "reason": "emulated timeout", "kind": "timeout"}],
        "findings": [{"doc_id": f"stdlib-{run_id}"}],
        "summary": f"answer for {run_id} [1]",
        "confidence": 0.8,
    }


def result_for(run_id: str, question: str, status: RunStatus, version: int) -> ResearchResult:
    finding = Finding(
        source="stdlib",
        doc_id=f"stdlib-{run_id}",
        title="asyncio.gather",
        location="asyncio.gather",
        snippet="Run awaitable objects concurrently.",
        relevance=0.9,
        score=1.5,
    )
    return ResearchResult(
        query_id=run_id,
        question=question,
        findings=[finding],
        summary=f"answer for {run_id} [1]",
        confidence=0.8,
        sources_used=list(SOURCES),
        status=status,
        settings_version=version,
    )


def make_run(
    run_id: str,
    question: str = "How do I gather coroutines in asyncio?",
    *,
    status: RunStatus = RunStatus.OK,
    version: int = 1,
    start: datetime | None = None,
    finish: bool = True,
) -> list[RunEvent]:
    """A full run's events (20 when finished), timestamps 10 ms apart from ``start``."""
    b = EventBuilder(run_id)
    events = [
        b.started(
            ResearchQuery.model_validate({"question": question, "id": run_id}),
            version,
            EngineSettings.model_validate({}).modes(),
        )
    ]
    updates = state_updates(run_id)
    for node in NODES:
        events.append(b.emit("node_started", node=node))
        for update in updates[node]:
            events.append(b.emit("state_updated", node=node, update=update))
        if node == "search_sources":
            events.append(b.emit("source_failed", source="remote", reason="emulated timeout", kind="timeout"))
        events.append(b.emit("node_finished", node=node, duration_s=0.01, cache_hit=False, output={"n": 1}))
    if finish:
        if status == RunStatus.ERROR:
            events.append(b.error("model call failed"))
        else:
            events.append(b.completed(result_for(run_id, question, status, version)))
    t0 = start or datetime.now(UTC)
    return [e.model_copy(update={"at": t0 + timedelta(milliseconds=10 * e.seq)}) for e in events]
