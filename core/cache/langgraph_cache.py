"""LangGraph's node cache (``BaseCache``) on top of the tiered cache.

LangGraph asks for keys ``(ns, key)`` with ``ns = ("__pregel_ns_writes", identifier, node)`` and
stores a node's writes, ``[(channel, value), ...]``; on a hit it replays them instead of running
the node. Here the node name is the cache namespace (stats, purge by node), every entry is tagged
with the run's query tag (purge by query) and ``langgraph``, and writes that report a failed
source are never stored, so a failure is retried next time instead of replayed.

Concurrent runs missing the same node key compute it once (node-level singleflight): the first
run to miss claims the key, later ones wait for its writes and replay them as a cache hit. A
leader whose writes are not cacheable, or whose run ends without writing (``release``), frees its
followers to compute the node themselves. A run waits only while it claims nothing (its claims
end with each superstep), so runs never wait on each other in a circle. Only async calls inside a
run (a ``RunContext``) coalesce; the sync methods run on a private loop and never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langgraph.cache.base import BaseCache, FullKey, Namespace

from core.cache.keys import CACHE_SCHEMA_VERSION, stable_key
from core.cache.singleflight import LeaderGone, SingleFlight
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


class NodeFlights:
    """The node keys being computed now, and which run claimed each; shared by the caches of
    every cache mode over one tiered cache (``with_levels``)."""

    def __init__(self) -> None:
        self.flight: SingleFlight[str, Writes | None] = SingleFlight()
        self.claims: dict[str, set[str]] = {}
        """run id -> the keys that run leads."""

    def release(self, run_id: str) -> None:
        """The run ended: its unsettled claims free their followers (they compute themselves)."""
        for key in self.claims.pop(run_id, ()):
            self.flight.abandon(key)

    def settle(self, run_id: str, key: str, writes: Writes | None) -> None:
        """``run_id`` computed ``key``: hand its writes (None: not cacheable) to the followers."""
        claimed = self.claims.get(run_id)
        if claimed is not None and key in claimed:
            claimed.discard(key)
            if not claimed:
                del self.claims[run_id]
            self.flight.settle(key, writes)


class LangGraphCache(BaseCache[Writes]):
    """``BaseCache`` adapter: pass as ``graph.compile(cache=LangGraphCache(tiered, levels="l1"))``.

    ``levels`` (``"off"``, ``"l1"``, ``"l1+l2"``) is fixed per instance: a graph is compiled per
    cache mode, each with ``with_levels(mode)``, which shares the tiers and the sync loop.

    >>> cache = LangGraphCache(tiered, levels="l1+l2")  # doctest: +SKIP
    """

    def __init__(
        self,
        tiered: TieredCache,
        *,
        levels: Levels | str = "l1",
        sync_loop: LoopThread | None = None,
        flights: NodeFlights | None = None,
        on_coalesced: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.tiered = tiered
        self.levels: Levels = levels if levels in ("l1", "l1+l2") else "off"  # type: ignore[assignment]
        self._sync = sync_loop or LoopThread("langgraph-cache-sync")
        self.flights = flights or NodeFlights()
        self.on_coalesced = on_coalesced
        """Called once per node request answered by another run's computation (metrics)."""

    def with_levels(
        self, levels: Levels | str, *, on_coalesced: Callable[[], None] | None = None
    ) -> LangGraphCache:
        """The same cache over ``levels`` (one instance per compiled graph), sharing the tiers,
        the sync loop and the in-flight node keys."""
        return LangGraphCache(
            self.tiered,
            levels=levels,
            sync_loop=self._sync,
            flights=self.flights,
            on_coalesced=on_coalesced or self.on_coalesced,
        )

    def release(self, run_id: str) -> None:
        """Call when a run ends: node keys it claimed but never wrote free their followers."""
        self.flights.release(run_id)

    @staticmethod
    def _key(ns: Namespace, key: str) -> str:
        return stable_key(CACHE_SCHEMA_VERSION, list(ns), key)

    async def _lookup(self, node: str, full: str) -> Writes | None:
        value, _level = await self.tiered.get(node, full, levels=self.levels)
        # After an L2 round trip each write is a list; LangGraph unpacks pairs, keep tuples.
        return None if value is None else [(w[0], w[1]) for w in value]

    async def _aget(
        self, keys: Sequence[FullKey], ctx: RunContext | None, *, coalesce: bool = False
    ) -> dict[FullKey, Writes]:
        levels = self.levels
        if levels == "off" or not keys:
            return {}
        start = time.perf_counter()
        follow = coalesce and ctx is not None
        if follow:
            # a new superstep: the nodes this run claimed before have finished, written or not
            self.flights.release(ctx.run_id)  # type: ignore[union-attr]
        out: dict[FullKey, Writes] = {}
        missed: list[tuple[FullKey, str, str]] = []
        for ns, key in keys:
            node, full = node_of(ns), self._key(ns, key)
            writes = await self._lookup(node, full)
            if writes is not None:
                out[(ns, key)] = writes
            elif follow:
                missed.append(((ns, key), node, full))
        # Keys other runs compute are awaited before this run claims any: a run that waits holds no
        # claim, so no two runs can wait on each other.
        missed.sort(key=lambda m: not self.flights.flight.in_flight(f"{m[1]}:{m[2]}"))
        waited = False
        for full_key, node, full in missed:
            was_in_flight = self.flights.flight.in_flight(f"{node}:{full}")
            writes = await self._follow(node, full, ctx, recheck=waited)  # type: ignore[arg-type]
            waited = waited or was_in_flight
            if writes is not None:
                out[full_key] = writes
        if ctx is not None:
            for ns, _key in out:
                ctx.cache_hits.add(node_of(ns))
            ctx.add_span("cache", start, time.perf_counter())
        return out

    async def _follow(self, node: str, full: str, ctx: RunContext, *, recheck: bool) -> Writes | None:
        """A missed key: claim it (None: this run computes it) or wait for the run computing it.
        ``recheck``: time passed since the lookup (this run waited), so look again before leading."""
        flights, key = self.flights, f"{node}:{full}"
        flight = flights.flight.join(key)
        if flight is None:
            writes = await self._lookup(node, full) if recheck else None
            if writes is not None:  # written meanwhile by the run this one waited for
                flights.flight.settle(key, writes)
                return writes
            flights.claims.setdefault(ctx.run_id, set()).add(key)
            return None
        if ctx.run_id in flights.claims:
            return None  # this run leads other keys now: it must not wait (compute this one too)
        try:
            writes = await flights.flight.wait(key, flight)
        except LeaderGone:
            # the leader's run ended without writes: look once more, else compute it here
            return await self._lookup(node, full)
        if writes is not None and self.on_coalesced is not None:
            self.on_coalesced()
        return None if writes is None else list(writes)

    async def _aset(self, pairs: Mapping[FullKey, tuple[Writes, int | None]], ctx: RunContext | None) -> None:
        levels = self.levels
        if levels == "off" or not pairs:
            return
        start = time.perf_counter()
        tags = (LANGGRAPH_TAG, ctx.query_tag) if ctx is not None and ctx.query_tag else (LANGGRAPH_TAG,)
        for (ns, key), (writes, ttl) in pairs.items():
            node, full = node_of(ns), self._key(ns, key)
            items = [(w[0], w[1]) for w in writes]  # LangGraph hands over its live deque: copy
            ok = cacheable(items)
            if ctx is not None:  # followers get the writes at once, not after the L2 round trip
                self.flights.settle(ctx.run_id, f"{node}:{full}", items if ok else None)
            if ok:
                await self.tiered.set(node, full, items, ttl_s=ttl, levels=levels, tags=tags)
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
        return await self._aget(keys, current_run.get(), coalesce=True)

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
