"""What an engine is built from (``Components``), how a run resumes from a checkpoint (``Continuation``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: this module sits below everything it names
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from core.cache.langgraph_cache import LangGraphCache
    from core.cache.tiered import TieredCache
    from core.llm import Agents
    from core.metrics import Metrics
    from core.metrics.profiling import Profiler
    from core.sources.base import Source
    from core.store.base import RunStore
    from core.store.writer import EventWriter

Seed = Callable[[Any, dict[str, Any]], Awaitable[Any]]
"""``await seed(compiled_graph, config)`` writes a run's first checkpoint."""


def process_owner() -> str:
    """``host:pid`` of this process; recorded in ``started`` events so recovery only claims runs
    whose owner process is dead on the same host."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Continuation:
    """How a run starts from a checkpoint instead of from its query (``core.durable``).

    ``seed`` writes the run's first checkpoint (fork/replay; None = resume the thread as it is);
    ``input`` is passed to the graph instead (a fork from the first node); ``started`` adds data
    to the ``started`` event; ``start_seq`` > 0 continues an event log (recovery claimed it);
    ``cacheable`` stores the result in the whole-result cache (only for unedited runs).
    """

    seed: Seed | None = None
    input: dict[str, Any] | None = None
    started: dict[str, Any] = field(default_factory=dict)
    start_seq: int = 0
    cacheable: bool = False


@dataclass
class Components:
    """Everything an engine is built from; made by ``core.factory.build_components``."""

    sources: dict[str, Source]
    agents: Agents
    metrics: Metrics
    cache: TieredCache | None = None
    """The result and node cache tiers (None: caching unavailable whatever the mode)."""
    graph_cache: LangGraphCache | None = None
    """LangGraph's per-node cache over the same tiers; ``with_levels`` gives one per cache mode."""
    store: RunStore | None = None
    """Run history (None: records stay in memory only)."""
    events: EventWriter | None = None
    """Appends run events to ``store`` in the background."""
    profiler: Profiler | None = None
    checkpointer: BaseCheckpointSaver[Any] | None = None
    """A LangGraph checkpoint saver (``core.durable.checkpoint.open_checkpointer``); None: no
    checkpoints, so no crash recovery, replay or fork."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
