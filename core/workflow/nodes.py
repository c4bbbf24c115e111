"""The workflow's nodes, as closures over their dependencies (``WorkflowDeps``).

Nodes read the run's context (``core.runctx.current_run``) for the settings version in force, record
phase spans there, and pass it to the model calls (``run=``) so those record on it too.
``instrument`` wraps every node with what the live modes ask for: ``copy`` state handling (an
encode/decode round trip of the node's input and output with the selected codec), ``strict``
validation of the node's input and output, and node timings.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.codecs import get_codec
from core.config import AgentsMode, EngineSettings, LatencyProfile
from core.errors import SourceError, SourceTimeout
from core.llm.agents import AgentCall
from core.llm.outputs import KeyTerms, RelevanceScores, Summary
from core.runctx import RunContext, current_run
from core.sources.base import Source
from core.workflow import merge
from core.workflow.snippet import snippet
from core.workflow.state import ResearchState, SearchTask
from core.workflow.validation import Validator

Node = Callable[[Any], Awaitable[dict[str, Any]]]
SNIPPET_CHARS = 600


class ModelCalls(Protocol):
    """The three model calls the nodes make (``core.llm.Agents`` is the implementation)."""

    async def key_terms(
        self,
        question: str,
        *,
        latency: LatencyProfile | None = None,
        run: RunContext | None = None,
        mode: AgentsMode = "pydantic_ai",
    ) -> AgentCall[KeyTerms]: ...

    async def score(
        self,
        question: str,
        terms: list[str],
        candidates: list[dict[str, Any]],
        *,
        latency: LatencyProfile | None = None,
        run: RunContext | None = None,
        mode: AgentsMode = "pydantic_ai",
    ) -> AgentCall[RelevanceScores]: ...

    async def summarize(
        self,
        question: str,
        findings: list[dict[str, Any]],
        *,
        latency: LatencyProfile | None = None,
        run: RunContext | None = None,
        mode: AgentsMode = "pydantic_ai",
    ) -> AgentCall[Summary]: ...


@dataclass
class WorkflowDeps:
    """What the nodes need; built once by the engine and passed in."""

    sources: Mapping[str, Source]
    agents: ModelCalls
    on_validation_error: Callable[[str, str], None]
    on_source_failure: Callable[[str], None]

    def validator(self, settings: EngineSettings) -> Validator:
        return Validator(
            settings.validation, lazy=settings.lazy_validation, on_error=self.on_validation_error
        )


def run_context() -> RunContext:
    ctx = current_run.get()
    if ctx is None:  # pragma: no cover - the engine always sets it
        raise RuntimeError("workflow nodes must run inside Engine (no RunContext set)")
    return ctx


def instrument(name: str, fn: Node, deps: WorkflowDeps) -> Node:
    """Wrap a node with copy-mode round trips, strict validation and timing."""

    async def node(state: Any) -> dict[str, Any]:
        ctx = run_context()
        settings: EngineSettings = ctx.settings
        start = time.perf_counter()
        label = f"{name}[{state['source']}]" if name == "search_sources" and "source" in state else name
        ctx.event("node_started", node=label)
        copy = settings.state_handling == "copy"
        if copy:
            codec = get_codec(settings.codec)
            with ctx.span("serialization"):
                state = codec.decode(codec.encode(state))
        validator = deps.validator(settings)
        if settings.validation == "strict":
            with ctx.span("validation"):
                validator.state(state)
        update = await fn(state)
        if settings.validation == "strict":
            with ctx.span("validation"):
                validator.state(update)
        if copy:
            with ctx.span("serialization"):
                update = codec.decode(codec.encode(update))
        end = time.perf_counter()
        ctx.node_runs.append((label, start, end))
        ctx.event("state_updated", node=label, update=update)
        ctx.event(
            "node_finished",
            node=label,
            duration_s=end - start,
            cache_hit=False,
            output={k: len(v) if isinstance(v, list | dict | str) else v for k, v in update.items()},
        )
        return update

    node.__name__ = name
    return node


def make_parse_query(deps: WorkflowDeps) -> Node:
    async def parse_query(state: ResearchState) -> dict[str, Any]:
        ctx = run_context()
        query = state["query"]
        wanted = list(query.get("domains") or deps.sources)
        settings = ctx.settings
        call = await deps.agents.key_terms(
            query["question"], latency=settings.model_latency, run=ctx, mode=settings.agents
        )
        return {
            "sources": wanted,
            "versions": {name: deps.sources[name].version for name in wanted},
            "terms": list(call.output.terms),
            "search_query": call.output.search_query,
        }

    return parse_query


def search_k(max_sources: int) -> int:
    """Candidates asked of each source: enough for the relevance agent to choose from."""
    return min(50, max(5, 2 * max_sources))


async def search_one(deps: WorkflowDeps, task: SearchTask) -> dict[str, Any]:
    """Search one source; a failure becomes a ``failed_sources`` entry, never an exception."""
    ctx = run_context()
    name = task["source"]
    try:
        with ctx.span("sources"):
            outcome = await deps.sources[name].search(
                task["search_query"], task["k"], profile=ctx.settings.source_latency
            )
    except SourceError as exc:
        deps.on_source_failure(name)
        kind = "timeout" if isinstance(exc, SourceTimeout) else "error"
        ctx.event("source_failed", source=name, reason=exc.reason, kind=kind)
        return {"failed_sources": [{"source": name, "reason": exc.reason, "kind": kind}]}
    if outcome.emulated:
        ctx.emulated = True
    docs = [{**hit.to_dict(), "source": name} for hit in outcome.hits]
    with ctx.span("validation"):
        docs = deps.validator(ctx.settings).documents(docs)
    return {"hits": docs}


def make_search_source(deps: WorkflowDeps) -> Node:
    async def search_source(task: SearchTask) -> dict[str, Any]:
        return await search_one(deps, task)

    return search_source


def search_tasks(state: ResearchState) -> list[SearchTask]:
    k = search_k(state["query"]["max_sources"])
    return [
        {"source": s, "version": state["versions"][s], "search_query": state["search_query"], "k": k}
        for s in state["sources"]
    ]


def make_search_all(deps: WorkflowDeps) -> Node:
    """Sequential execution mode: one source after another, for comparison."""

    async def search_all(state: ResearchState) -> dict[str, Any]:
        hits: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for task in search_tasks(state):
            out = await search_one(deps, task)
            hits += out.get("hits", [])
            failed += out.get("failed_sources", [])
        return {"hits": hits, "failed_sources": failed}

    return search_all


def shortlist(hits: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Best candidates across sources. BM25 scores are not comparable between corpora, so each
    source's scores are normalized by its best before merging."""
    best: dict[str, float] = {}
    for h in hits:
        best[h["source"]] = max(best.get(h["source"], 0.0), h["score"])
    ranked = sorted(
        hits, key=lambda h: (h["score"] / best[h["source"]]) if best[h["source"]] else 0.0, reverse=True
    )
    return [
        {**h, "norm_score": (h["score"] / best[h["source"]]) if best[h["source"]] else 0.0}
        for h in ranked[:limit]
    ]


def make_analyze(deps: WorkflowDeps) -> Node:
    async def analyze_findings(state: ResearchState) -> dict[str, Any]:
        ctx = run_context()
        query = state["query"]
        max_sources = query["max_sources"]
        validator = deps.validator(ctx.settings)
        candidates = []
        for doc in merge.shortlist(state.get("hits", []), limit=max(3 * max_sources, 10)):
            with ctx.span("validation"):
                text = validator.text(doc)
            if text is not None:
                candidates.append({**doc, "text": text})
        if not candidates:
            return {"findings": []}
        call = await deps.agents.score(
            query["question"],
            state.get("terms", []),
            [
                {"title": c["title"], "text": c["text"], "score": c["norm_score"], "location": c["location"]}
                for c in candidates
            ],
            latency=ctx.settings.model_latency,
            run=ctx,
            mode=ctx.settings.agents,
        )
        scored = sorted(zip(call.output.scores, candidates, strict=True), key=lambda p: p[0], reverse=True)
        findings = [
            {
                "source": c["source"],
                "doc_id": c["doc_id"],
                "title": c["title"],
                "location": c["location"],
                # The answer is written mostly from the first finding: its snippet brings in the
                # paragraph with the question's missing terms. The others keep their start (two
                # siblings biased alike would show the same paragraph twice).
                "snippet": snippet(c["text"], state.get("terms", []) if n == 0 else (), SNIPPET_CHARS),
                "relevance": round(float(rel), 4),
                "score": round(float(c["score"]), 4),
                "also_in": c.get("also_in", []),
            }
            for n, (rel, c) in enumerate(scored[:max_sources])
        ]
        return {"findings": findings}

    return analyze_findings


def make_summary(deps: WorkflowDeps) -> Node:
    async def generate_summary(state: ResearchState) -> dict[str, Any]:
        ctx = run_context()
        findings = state.get("findings", [])
        if not findings:
            return {
                "summary": "No strong match: no source returned evidence for this question.",
                "confidence": 0.0,
                "cited": [],
            }
        call = await deps.agents.summarize(
            state["query"]["question"],
            findings,
            latency=ctx.settings.model_latency,
            run=ctx,
            mode=ctx.settings.agents,
        )
        out = call.output
        return {"summary": out.text, "confidence": float(out.confidence), "cited": list(out.cited)}

    return generate_summary
