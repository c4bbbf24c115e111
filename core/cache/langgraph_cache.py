"""LangGraph's node cache (``BaseCache``) on top of the tiered cache.

LangGraph asks for keys ``(ns, key)`` with ``ns = ("__pregel_ns_writes", identifier, node)`` and
stores a node's writes, ``[(channel, value), ...]``; on a hit it replays them instead of running
the node. Here the node name is the cache namespace (stats, purge by node), every entry is tagged
with the run's query tag (purge by query) and ``langgraph``, and writes that report a failed
source are never stored, so a failure is retried next time instead of replayed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from langgraph.cache.base import BaseCache, FullKey, Namespace

from core.cache.keys import CACHE_SCHEMA_VERSION, stable_key
from core.cache.tiered import Levels, TieredCache
from core.runctx import RunContext, current_run

T = TypeVar("T")
Writes = list[tuple[str, Any]]
LANGGRAPH_TAG = "langgraph"
FAILED_CHANNEL = "failed_sources"


def node_of(ns: Namespace) -> str:
    """The node name of a LangGraph cache namespace (its last part), safe as a cache namespace."""
    return (ns[-1] if ns else "__graph__").replace(":", "_")


def cacheable(writes: Sequence[Sequence[Any]]) -> bool:
    """False when the writes carry a non-empty ``failed_sources`` value (failures are not cached)."""
    return not any(w[0] == FAILED_CHANNEL and w[1] for w in writes)


class _LoopThread:
    """A private event loop on a daemon thread, for LangGraph's synchronous cache calls."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="langgraph-cache-sync", daemon=True).start()
                self._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None


class LangGraphCache(BaseCache[Writes]):
    """``BaseCache`` adapter: pass as ``graph.compile(cache=LangGraphCache(tiered, levels_fn=...))``.

    ``levels_fn()`` returns the live cache mode (``"off"``, ``"l1"``, ``"l1+l2"``) at each call.

    >>> cache = LangGraphCache(tiered, levels_fn=lambda: "l1+l2")  # doctest: +SKIP
    """

    def __init__(self, tiered: TieredCache, *, levels_fn: Callable[[], Levels | str]) -> None:
        super().__init__()
        self.tiered = tiered
        self.levels_fn = levels_fn
        self._sync = _LoopThread()

    @staticmethod
    def _key(ns: Namespace, key: str) -> str:
        return stable_key(CACHE_SCHEMA_VERSION, list(ns), key)

    def _levels(self) -> Levels:
        levels = self.levels_fn()
        return levels if levels in ("l1", "l1+l2") else "off"  # type: ignore[return-value]

    async def _aget(self, keys: Sequence[FullKey], ctx: RunContext | None) -> dict[FullKey, Writes]:
        levels = self._levels()
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
        levels = self._levels()
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
