"""LangGraph's node cache (``BaseCache``) on top of the tiered cache.

LangGraph asks for keys ``(ns, key)`` with ``ns = ("__pregel_ns_writes", identifier, node)`` and
stores a node's writes, ``[(channel, value), ...]``; on a hit it replays them instead of running
the node. Here the node name is the cache namespace (stats, purge by node), every entry is tagged
with the run's query tag (purge by query) and ``langgraph``, and writes that report a failed
source are never stored, so a failure is retried next time instead of replayed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.cache.base import BaseCache, FullKey, Namespace

from core.cache.keys import CACHE_SCHEMA_VERSION, stable_key
from core.cache.tiered import Levels, TieredCache
from core.loopthread import LoopThread
from core.runctx import RunContext, current_run

Writes = list[tuple[str, Any]]
LANGGRAPH_TAG = "langgraph"
FAILED_CHANNEL = "failed_sources"


def node_of(ns: Namespace) -> str:
    """The node name of a LangGraph cache namespace (its last part), safe as a cache namespace."""
    return (ns[-1] if ns else "__graph__").replace(":", "_")


def cacheable(writes: Sequence[Sequence[Any]]) -> bool:
    """False when the writes carry a non-empty ``failed_sources`` value (failures are not cached)."""
    return not any(w[0] == FAILED_CHANNEL and w[1] for w in writes)


class LangGraphCache(BaseCache[Writes]):
    """``BaseCache`` adapter: pass as ``graph.compile(cache=LangGraphCache(tiered, levels="l1"))``.

    ``levels`` (``"off"``, ``"l1"``, ``"l1+l2"``) is fixed per instance: a graph is compiled per
    cache mode, each with ``with_levels(mode)``, which shares the tiers and the sync loop.

    >>> cache = LangGraphCache(tiered, levels="l1+l2")  # doctest: +SKIP
    """

    def __init__(
        self, tiered: TieredCache, *, levels: Levels | str = "l1", sync_loop: LoopThread | None = None
    ) -> None:
        super().__init__()
        self.tiered = tiered
        self.levels: Levels = levels if levels in ("l1", "l1+l2") else "off"  # type: ignore[assignment]
        self._sync = sync_loop or LoopThread("langgraph-cache-sync")

    def with_levels(self, levels: Levels | str) -> LangGraphCache:
        """The same cache over ``levels`` (one instance per compiled graph)."""
        return LangGraphCache(self.tiered, levels=levels, sync_loop=self._sync)

    @staticmethod
    def _key(ns: Namespace, key: str) -> str:
        return stable_key(CACHE_SCHEMA_VERSION, list(ns), key)

    async def _aget(self, keys: Sequence[FullKey], ctx: RunContext | None) -> dict[FullKey, Writes]:
        levels = self.levels
        if levels == "off" or not keys:
            return {}
        start = time.perf_counter()
        out: dict[FullKey, Writes] = {}
        for ns, key in keys:
            value, _level = await self.tiered.get(node_of(ns), self._key(ns, key), levels=levels)
            if value is not None:
                # After an L2 round trip each write is a list; LangGraph unpacks pairs, keep tuples.
                out[(ns, key)] = [(w[0], w[1]) for w in value]
                if ctx is not None:
                    ctx.cache_hits.add(node_of(ns))
        if ctx is not None:
            ctx.add_span("cache", start, time.perf_counter())
        return out

    async def _aset(self, pairs: Mapping[FullKey, tuple[Writes, int | None]], ctx: RunContext | None) -> None:
        levels = self.levels
        if levels == "off" or not pairs:
            return
        start = time.perf_counter()
        tags = (LANGGRAPH_TAG, ctx.query_tag) if ctx is not None and ctx.query_tag else (LANGGRAPH_TAG,)
        for (ns, key), (writes, ttl) in pairs.items():
            items = [(w[0], w[1]) for w in writes]  # LangGraph hands over its live deque: copy
            if not cacheable(items):
                continue
            await self.tiered.set(node_of(ns), self._key(ns, key), items, ttl_s=ttl, levels=levels, tags=tags)
        if ctx is not None:
            ctx.add_span("cache", start, time.perf_counter())

    async def _aclear(self, namespaces: Sequence[Namespace] | None) -> None:
        if namespaces is None:
            await self.tiered.purge(tag=LANGGRAPH_TAG)
            return
        for node in {node_of(ns) for ns in namespaces}:
            await self.tiered.purge(namespace=node)

    # --- BaseCache -----------------------------------------------------------------------------
    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Writes]:
        return await self._aget(keys, current_run.get())

    async def aset(self, pairs: Mapping[FullKey, tuple[Writes, int | None]]) -> None:
        await self._aset(pairs, current_run.get())

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        await self._aclear(namespaces)

    # Sync calls (graph.invoke) run on a private loop; the run context is captured here because
    # it does not cross into that loop's thread by itself.
    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Writes]:
        return self._sync.run(self._aget(keys, current_run.get()))

    def set(self, pairs: Mapping[FullKey, tuple[Writes, int | None]]) -> None:
        self._sync.run(self._aset(pairs, current_run.get()))

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        self._sync.run(self._aclear(namespaces))

    def close(self) -> None:
        """Stop the private loop used by the sync methods (if it was started)."""
        self._sync.stop()
