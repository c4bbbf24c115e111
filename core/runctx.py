"""The per-run context: what one workflow run records about itself while it runs.

The engine sets ``current_run`` before invoking the graph; nodes, the per-node cache adapter and
agents read it (asyncio tasks inherit context variables), so timings, cache hits and phase spans
land on the right run without travelling through the graph state. Keeping them out of the state
matters: LangGraph's node cache replays a node's state writes on a hit, and a replayed timing would
be a lie.

Phases: ``llm``, ``sources``, ``validation``, ``serialization``, ``cache``; time in no phase is
``graph`` (LangGraph scheduling, our node wrappers, state merging).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

PHASES = ("llm", "sources", "serialization", "validation", "cache", "graph")
# When parallel branches overlap, a moment of wall time is attributed to the highest of these.
_PRIORITY = {"llm": 5, "sources": 4, "serialization": 3, "validation": 2, "cache": 1}


@dataclass
class RunContext:
    """Mutable record of one running workflow; owned by the engine, filled by everything else."""

    run_id: str
    settings: Any  # EngineSettings; Any to keep this module import-free
    query_tag: str = ""
    """Digest of the normalized query; tags cache entries so one query can be purged."""
    t0: float = field(default_factory=time.perf_counter)
    spans: list[tuple[str, float, float]] = field(default_factory=list)
    node_runs: list[tuple[str, float, float]] = field(default_factory=list)
    cache_hits: set[str] = field(default_factory=set)
    emulated: bool = False
    tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0})
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @contextmanager
    def span(self, phase: str) -> Iterator[None]:
        """Record the wall time of the block under ``phase``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spans.append((phase, start, time.perf_counter()))

    def add_span(self, phase: str, start: float, end: float) -> None:
        self.spans.append((phase, start, end))

    def event(self, kind: str, /, **data: Any) -> None:
        self.events.append((kind, data))

    def phase_breakdown(self, end: float | None = None) -> dict[str, float]:
        """Seconds per phase that add up exactly to the run's wall time so far."""
        return attribute_phases(self.spans, self.t0, end if end is not None else time.perf_counter())


current_run: ContextVar[RunContext | None] = ContextVar("researchops_current_run", default=None)


def attribute_phases(spans: list[tuple[str, float, float]], t0: float, t1: float) -> dict[str, float]:
    """Split the wall time ``[t0, t1]`` among phases so the parts add up to ``t1 - t0``.

    Every moment goes to the highest-priority phase active then (llm > sources > serialization >
    validation > cache), so parallel branches are counted once, by what the run was waiting on;
    moments when no phase is active are ``graph`` overhead.

    >>> attribute_phases([("llm", 0.0, 1.0), ("sources", 0.5, 2.0)], 0.0, 3.0)
    {'llm': 1.0, 'sources': 1.0, 'serialization': 0.0, 'validation': 0.0, 'cache': 0.0, 'graph': 1.0}
    """
    out = dict.fromkeys(PHASES, 0.0)
    # A sweep over the span edges (clipped to [t0, t1]): O(n log n), not a scan of every span
    # per cut; ``active`` counts the open spans of each phase.
    edges = sorted(
        [(max(t0, min(t1, s)), 1, p) for p, s, _ in spans]
        + [(max(t0, min(t1, e)), -1, p) for p, _, e in spans],
        key=lambda x: (x[0], x[1]),
    )
    active: dict[str, int] = {}
    at = t0
    for t, step, p in [*edges, (t1, 0, "")]:
        if t > at:
            open_ = [q for q, n in active.items() if n > 0]
            phase = max(open_, key=lambda q: _PRIORITY.get(q, 0)) if open_ else "graph"
            out[phase] += t - at
            at = t
        if step:
            active[p] = active.get(p, 0) + step
    return out
