"""The whole-result cache: result keys, validated results kept in L1, concurrent misses shared.

Over the tiered cache, under namespace ``result``: L2 holds plain data (the safe codec's bytes),
L1 holds the validated ``ResearchResult`` itself, so an L1 hit costs a lookup and a copy, not a
validation (plain data found in L1, i.e. promoted from L2, is validated once and swapped for its
model). What ``get`` returns is the cache's own object: callers hand out ``copy_result`` of it.

``flight`` is the singleflight of misses: concurrent misses of one key share the first one's run.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from core.cache.keys import result_key
from core.cache.singleflight import SingleFlight
from core.cache.tiered import Levels, TieredCache
from core.models import ResearchQuery, ResearchResult
from core.runctx import RunContext
from core.workflow.result import copy_result

RESULT_NS = "result"


@functools.lru_cache(maxsize=8192)
def _key(question: str, max_sources: int, versions: tuple[tuple[str, str], ...], model: str) -> str:
    # memoized: a hit computes the same canonical digest as the run before it (~9 µs each)
    return result_key(question, max_sources, versions, model)


class ResultCache:
    """Whole results in the tiered cache, keyed by what changes an answer.

    >>> cache = ResultCache(tiered, sources, "offline@2")  # doctest: +SKIP
    >>> await cache.put(cache.key(query), result, ttl_s=3600, levels="l1+l2", tags=())  # doctest: +SKIP
    """

    def __init__(self, tiered: TieredCache, sources: Mapping[str, Any], model: str) -> None:
        self.tiered = tiered
        self.sources = sources
        self.model = model
        self.flight: SingleFlight[str, ResearchResult] = SingleFlight()
        """Result keys being computed now."""

    def key(self, query: ResearchQuery) -> str:
        """The key of ``query``'s answer: normalized question, max_sources, sources and their
        corpus versions, model identity."""
        sources = self.sources
        versions = tuple((n, sources[n].version) for n in (query.domains or sources))
        return _key(query.question, query.max_sources, versions, self.model)

    async def get(
        self, key: str, levels: Levels, ctx: RunContext | None = None
    ) -> tuple[ResearchResult | None, str | None]:
        """``(result, level)`` of a hit (the cache's own object: do not hand it out), or ``(None, None)``."""
        cached, level = await self.tiered.get(RESULT_NS, key, levels=levels)
        if cached is None or isinstance(cached, ResearchResult):
            return cached, level
        # plain data: promoted from L2, or written by an older process
        if ctx is not None:
            with ctx.span("validation"):
                valid = ResearchResult.model_validate(cached)
        else:
            valid = ResearchResult.model_validate(cached)
        self._keep(key, valid)
        return valid, level

    async def put(
        self, key: str, result: ResearchResult, *, ttl_s: int, levels: Levels, tags: tuple[str, ...]
    ) -> None:
        """Store ``result``: plain data for L2 (and L1's size), then L1's entry swapped for a copy of
        the model (the caller keeps and may change ``result``)."""
        data = result.model_dump(mode="json")
        await self.tiered.set(RESULT_NS, key, data, ttl_s=ttl_s, levels=levels, tags=tags)
        self._keep(key, copy_result(result))

    def _keep(self, key: str, result: ResearchResult) -> None:
        # the tiered cache keeps entries under "<namespace>:<key>"; same size, TTL and tags
        self.tiered.l1.replace(f"{RESULT_NS}:{key}", result)
