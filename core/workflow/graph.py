"""Builds and compiles the research graph for a given execution mode.

``parallel``: ``parse_query`` fans out one ``Send`` per selected source to ``search_sources``;
LangGraph runs the branches concurrently and joins them (the ``hits`` reducer) before
``analyze_findings``. ``sequential``: one ``search_sources`` node visits the sources in turn.

Every node carries a ``CachePolicy`` whose key covers only what changes its output (normalized
question, max_sources, sources and their corpus versions, model identity, cache schema); it takes
effect when the graph is compiled with a cache (``cache`` mode ``l1`` or ``l1+l2``).
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.cache.base import BaseCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy, Send

from core.cache.keys import CACHE_SCHEMA_VERSION, normalize_question, stable_key
from core.workflow.nodes import (
    WorkflowDeps,
    instrument,
    make_analyze,
    make_parse_query,
    make_search_all,
    make_search_source,
    make_summary,
    search_tasks,
)
from core.workflow.state import ResearchState, SearchTask

NODES = ("parse_query", "search_sources", "analyze_findings", "generate_summary")


def node_keys(model: str) -> dict[str, Any]:
    """The cache key function of each node (``model`` is the model identity)."""

    def parse_key(state: ResearchState) -> str:
        # LangGraph caches a node's writes together with the Send packets of its conditional edge,
        # so this key must cover what the fan-out reads too (max_sources sets the search depth).
        q = state["query"]
        return stable_key(
            "parse_query",
            CACHE_SCHEMA_VERSION,
            model,
            normalize_question(q["question"]),
            sorted(q.get("domains") or ()),
            q["max_sources"],
        )

    def search_key(task: SearchTask) -> str:
        return stable_key(
            "search", CACHE_SCHEMA_VERSION, task["source"], task["version"], task["search_query"], task["k"]
        )

    def search_all_key(state: ResearchState) -> str:
        return stable_key(
            "search_all",
            CACHE_SCHEMA_VERSION,
            sorted(state["versions"].items()),
            state["search_query"],
            state["query"]["max_sources"],
        )

    def analyze_key(state: ResearchState) -> str:
        q = state["query"]
        answered = sorted({h["source"] for h in state.get("hits", [])})
        return stable_key(
            "analyze",
            CACHE_SCHEMA_VERSION,
            model,
            normalize_question(q["question"]),
            q["max_sources"],
            [(s, state["versions"][s]) for s in answered],
        )

    def summary_key(state: ResearchState) -> str:
        return stable_key(
            "summary",
            CACHE_SCHEMA_VERSION,
            model,
            normalize_question(state["query"]["question"]),
            [(f["doc_id"], f["relevance"]) for f in state.get("findings", [])],
        )

    return {
        "parse_query": parse_key,
        "search_source": search_key,
        "search_all": search_all_key,
        "analyze_findings": analyze_key,
        "generate_summary": summary_key,
    }


def build_graph(
    deps: WorkflowDeps,
    *,
    execution: str,
    model: str,
    ttl_s: int,
    cache: BaseCache[Any] | None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> Any:
    """Compile the research graph. ``cache=None`` disables the per-node cache; ``checkpointer``
    saves a checkpoint per superstep (resume, replay, fork; see ``core.durable``)."""
    keys = node_keys(model)

    def policy(name: str) -> CachePolicy[Any]:
        return CachePolicy(key_func=keys[name], ttl=ttl_s)

    g = StateGraph(ResearchState)

    def add(name: str, node: Any, key: str) -> None:
        # our instrumented nodes are plain async callables; LangGraph's overloads want its own
        # node protocols, so the one cast lives here
        g.add_node(name, cast(Any, instrument(name, node, deps)), cache_policy=policy(key))

    add("parse_query", make_parse_query(deps), "parse_query")
    if execution == "parallel":
        add("search_sources", make_search_source(deps), "search_source")

        def fan_out(state: ResearchState) -> list[Send]:
            return [Send("search_sources", task) for task in search_tasks(state)]

        g.add_conditional_edges("parse_query", fan_out, ["search_sources"])
    else:
        add("search_sources", make_search_all(deps), "search_all")
        g.add_edge("parse_query", "search_sources")
    add("analyze_findings", make_analyze(deps), "analyze_findings")
    add("generate_summary", make_summary(deps), "generate_summary")
    g.add_edge(START, "parse_query")
    g.add_edge("search_sources", "analyze_findings")
    g.add_edge("analyze_findings", "generate_summary")
    g.add_edge("generate_summary", END)
    return g.compile(cache=cache, checkpointer=checkpointer, name=f"research-{execution}")
