"""Wiring: ``build_components`` from process ``Settings`` and ``open_engine`` (engine + recovery).

Embedded defaults need nothing installed: the L2 cache and the run store are SQLite files under
the data directory; ``REDIS_URL`` / ``DATABASE_URL`` switch them to Redis / PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from core.cache.langgraph_cache import LangGraphCache
from core.cache.memory import MemoryCache
from core.cache.redis import RedisL2
from core.cache.sqlite import SQLiteL2
from core.cache.tiered import TieredCache
from core.codecs import get_codec
from core.components import Components
from core.config import EngineSettings, Settings
from core.durable.checkpoint import open_checkpointer
from core.durable.recovery import recover
from core.engine import Engine
from core.llm import Agents
from core.metrics import Metrics
from core.metrics.profiling import Profiler
from core.sources.base import Source
from core.sources.registry import build_sources
from core.store import EventPolicy, Retention, open_store
from core.store.writer import EventWriter
from core.workflow.graph import NODES

Progress = Callable[[str], None]
# L2 values are shared between processes (and machines, with Redis): they use a safe codec whatever
# the live codec mode, so nothing read from a shared store is ever unpickled.
L2_CODEC = "ormsgpack"


async def build_components(
    settings: Settings,
    *,
    progress: Progress | None = None,
    metrics: Metrics | None = None,
    with_store: bool = True,
    schema: str = "public",
    role: str | None = None,
) -> Components:
    """Open sources (building indexes off the loop when needed), agents, cache tiers, store and
    checkpointer. ``schema``: the PostgreSQL schema of the run store and checkpoints; ``role``:
    what this process is on the all-process Metrics view (``dashboard``, ``burst``...)."""
    say = progress or (lambda _m: None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    say("opening sources (the first start builds the search indexes; later starts load them)")
    sources: dict[str, Source] = dict(await build_sources(settings))  # typed by the protocol
    say(
        "sources ready: "
        + ", ".join(f"{n} ({getattr(s, 'doc_count', '?')} chunks)" for n, s in sources.items())
    )
    agents = Agents(settings.model, base_url=settings.model_base_url)
    metrics = metrics or Metrics.for_process(
        nodes=NODES, sources=list(sources), metrics_dir=settings.data_dir / "metrics", role=role
    )
    l2 = RedisL2(settings.redis_url) if settings.redis_url else SQLiteL2(settings.data_dir / "cache.sqlite")
    tiered = TieredCache(
        MemoryCache(settings.l1_max_entries, settings.l1_max_bytes),
        l2,
        get_codec(L2_CODEC),
        on_event=metrics.cache_event,
    )
    tiered.on_degraded = metrics.degraded  # every process counts its degraded L2 calls
    components = Components(
        sources=sources,
        agents=agents,
        metrics=metrics,
        cache=tiered,
        graph_cache=LangGraphCache(tiered),  # one per cache mode: Engine.graph
    )
    components.closers.append(tiered.close)
    components.profiler = Profiler()
    if with_store:
        store = open_store(settings.database_url, settings.data_dir, schema=schema)
        await store.open()
        await Retention(max_age_s=settings.retention_max_age_s, max_runs=settings.retention_max_runs).apply(
            store
        )
        writer = EventWriter(
            store,
            EventPolicy(mode=settings.event_log, sample_rate=settings.event_sample_rate),
            on_degraded=metrics.degraded,
        )
        writer.start()
        components.store, components.events = store, writer
        components.closers += [store.close, writer.close]  # closed in reverse: writer flushes first
        if settings.checkpoints:
            checkpointer = await open_checkpointer(settings, schema=None if schema == "public" else schema)
            components.checkpointer = checkpointer.saver
            components.closers.append(checkpointer.close)  # closed first: after in-flight runs end
    if settings.metrics_port is not None:
        try:
            port = await asyncio.to_thread(metrics.serve, settings.metrics_port, settings.metrics_addr)
            say(f"metrics at http://{settings.metrics_addr}:{port}/metrics")
        except OSError as exc:  # e.g. a second dashboard on this machine: run on, without /metrics
            say(f"metrics endpoint not started on port {settings.metrics_port}: {exc}")
    return components


async def open_engine(
    build: Callable[[], Awaitable[Components]], settings: EngineSettings | None = None
) -> Engine:
    """Open an engine on the running loop and, with checkpoints and a store, resume in the
    background the runs a dead process left ``running`` (start-up does not wait for them).

    >>> # engine = await open_engine(lambda: build_components(Settings()))
    """
    engine = await Engine.open(build, settings)
    if engine.c.checkpointer is not None and engine.c.store is not None:
        engine.track(asyncio.ensure_future(recover(engine)))
    return engine


def run_with_engine(
    fn: Callable[[Engine], Awaitable[int]],
    settings: Settings,
    engine_settings: EngineSettings | None = None,
    *,
    progress: Progress | None = None,
) -> int:
    """Open an engine on a fresh loop, return ``await fn(engine)``, close it (CLI commands)."""

    async def main() -> int:
        engine = await open_engine(lambda: build_components(settings, progress=progress), engine_settings)
        try:
            return await fn(engine)
        finally:
            await engine.aclose()

    return asyncio.run(main())
