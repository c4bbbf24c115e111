"""TieredCache: L1 then L2 with promotion, purge by node / query, counters, and L2 failures absorbed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.cache.memory import MemoryCache
from core.cache.redis import RedisL2
from core.cache.sqlite import SQLiteL2
from core.cache.tiered import TieredCache
from core.codecs import get_codec
from core.errors import CodecError
from tests.support.redis_server import RedisServer
from tests.support.wait import await_until

STATE = {"terms": ["asyncio"], "findings": [{"title": "Tâches", "score": 1.5, "spans": [[1, 2]]}]}


def _tiered(
    l2: Any, events: list[tuple[str, str, str]] | None = None, codec: str = "ormsgpack"
) -> TieredCache:
    sink = (lambda *e: events.append(e)) if events is not None else None
    # the mechanics over any plain value: no shape check per namespace (tests/cache/test_corrupt.py)
    cache = TieredCache(MemoryCache(100, 1 << 20), l2, get_codec(codec), on_event=sink, validators={})
    cache.l2_backoff_s = 0.0  # every call reaches L2 (the back-off window: tests/faults/test_redis_outage.py)
    return cache


def test_pickle_is_refused_as_the_cache_codec() -> None:
    with pytest.raises(CodecError, match="not safe"):
        TieredCache(MemoryCache(10, 1000), None, get_codec("pickle"))


async def test_l1_only_hit_returns_the_same_object_without_decoding() -> None:
    events: list[tuple[str, str, str]] = []
    cache = _tiered(None, events)
    assert await cache.get("analyze", "k", levels="l1") == (None, None)
    await cache.set("analyze", "k", STATE, ttl_s=60, levels="l1")
    value, level = await cache.get("analyze", "k", levels="l1")
    assert value is STATE and level == "l1"
    assert events == [("l1", "analyze", "miss"), ("l1", "analyze", "set"), ("l1", "analyze", "hit")]
    stats = cache.stats()
    assert stats["l1"]["hits"] == 1 and stats["l1"]["misses"] == 1 and stats["l1"]["sets"] == 1
    assert stats["l1"]["size_by_namespace"] == {"analyze": 1}
    # The L1 size estimate is the encoded length (payload plus a short header).
    assert 0 < stats["l1"]["bytes"] - len(get_codec("ormsgpack").encode(STATE)) < 40


async def test_l2_hit_is_decoded_and_promoted_to_l1(l2: Any) -> None:
    writer, reader = _tiered(l2), _tiered(l2)  # two processes sharing one L2
    await writer.set("result", "k", STATE, ttl_s=60, levels="l1+l2", tags=["q:1"])
    assert await reader.get("result", "k", levels="l1") == (None, None)
    assert await reader.get("result", "k", levels="l1+l2") == (STATE, "l2")
    assert await reader.get("result", "k", levels="l1+l2") == (STATE, "l1")
    assert reader.stats()["l2"]["namespaces"]["result"]["hits"] == 1


async def test_entries_written_with_another_codec_still_decode(l2: Any) -> None:
    await _tiered(l2, codec="json").set("result", "k", STATE, ttl_s=60, levels="l1+l2")
    reader = _tiered(l2, codec="orjson")
    assert await reader.get("result", "k", levels="l1+l2") == (STATE, "l2")


async def test_pickled_bytes_in_l2_are_never_unpickled(l2: Any) -> None:
    await l2.set("result:evil", b"-|ro.pickle:" + get_codec("pickle").encode({"x": 1}), 60)
    cache = _tiered(l2)
    assert await cache.get("result", "evil", levels="l1+l2") == (None, None)
    # refused bytes are a corrupt entry (dropped, recomputed), not a backend error
    assert cache.stats()["l2"]["corrupt"] == 1 and cache.stats()["l2"]["errors"] == 0


async def test_promoted_entry_leaves_l1_when_its_l2_lifetime_ends(sqlite_l2: SQLiteL2) -> None:
    await _tiered(sqlite_l2).set("n", "k", STATE, ttl_s=0.3, levels="l1+l2")
    reader = _tiered(sqlite_l2)
    assert (await reader.get("n", "k", levels="l1+l2"))[1] == "l2"

    async def expired() -> bool:
        return (await reader.get("n", "k", levels="l1"))[1] is None

    await await_until(expired, 5.0, "the entry to expire", 0.02)


async def test_purge_by_namespace_tag_and_all(l2: Any) -> None:
    cache = _tiered(l2)
    await cache.set("analyze", "a", 1, ttl_s=60, levels="l1+l2", tags=["q:x"])
    await cache.set("analyze", "b", 2, ttl_s=60, levels="l1+l2", tags=["q:y"])
    await cache.set("summary", "a", 3, ttl_s=60, levels="l1+l2", tags=["q:x"])
    await cache.set("result", "r", 4, ttl_s=60, levels="l1+l2", tags=["q:z"])
    assert await cache.purge(tag="q:x") == 4  # 2 entries in each level
    assert await cache.get("analyze", "a", levels="l1+l2") == (None, None)
    assert await cache.get("analyze", "b", levels="l1+l2") == (2, "l1")
    assert await cache.purge(namespace="analyze") == 2
    assert await cache.get("analyze", "b", levels="l1+l2") == (None, None)
    assert await cache.purge() == 2
    assert await cache.get("result", "r", levels="l1+l2") == (None, None)
    assert await cache.refresh_l2_size() == 0


async def test_l1_capacity_evictions_are_counted_per_namespace() -> None:
    events: list[tuple[str, str, str]] = []
    cache = TieredCache(
        MemoryCache(2, 1 << 20), None, get_codec("orjson"), on_event=lambda *e: events.append(e)
    )
    for i in range(4):
        await cache.set("analyze", str(i), i, ttl_s=60, levels="l1")
    assert cache.stats()["l1"]["namespaces"]["analyze"]["evictions"] == 2
    assert ("l1", "analyze", "eviction") in events
    assert await cache.get("analyze", "0", levels="l1") == (None, None)
    assert await cache.get("analyze", "3", levels="l1") == (3, "l1")


def test_memory_cache_bounds_bytes_as_well_as_entries() -> None:
    mem = MemoryCache(max_entries=100, max_bytes=100)
    for i in range(5):
        assert mem.set(str(i), i, size=30, ttl_s=None)
    assert mem.size() == 3 and mem.bytes_used == 90
    assert mem.get("0") is None and mem.get("4") == 4
    assert not mem.set("big", "x", size=101, ttl_s=None)
    assert mem.stats.rejected == 1


async def test_unencodable_value_is_counted_not_raised() -> None:
    cache = _tiered(None)
    assert await cache.set("n", "k", {"lock": __import__("threading").Lock()}, ttl_s=60, levels="l1") is False
    assert cache.stats()["l1"]["errors"] == 1


async def test_redis_outage_is_absorbed_and_l2_resumes_after_restart(redis_server: RedisServer) -> None:
    """Kill the private Redis: requests keep succeeding (errors counted); restart: L2 hits resume."""
    l2 = RedisL2(redis_server.url, prefix="fault:")
    cache = _tiered(l2)
    try:
        await cache.set("result", "before", STATE, ttl_s=60, levels="l1+l2")
        assert await cache.get("result", "before", levels="l1+l2") == (STATE, "l1")

        redis_server.kill()
        # Set and get during the outage: no exception, L1 still answers, errors are counted.
        await cache.set("result", "during", STATE, ttl_s=60, levels="l1+l2")
        assert await cache.get("result", "during", levels="l1+l2") == (STATE, "l1")
        assert await cache.get("result", "missing", levels="l1+l2") == (None, None)
        assert await cache.purge(namespace="other") == 0
        assert cache.stats()["l2"]["errors"] >= 3

        redis_server.restart()  # same port, empty (no persistence)
        await cache.set("result", "after", STATE, ttl_s=60, levels="l1+l2")
        cache.l1.clear()

        async def l2_hit() -> bool:
            return (await cache.get("result", "after", levels="l1+l2"))[1] == "l2"

        await await_until(l2_hit, 10.0, "an L2 hit", 0.02)
    finally:
        await l2.close()


async def test_redis_unreachable_from_the_start_is_a_miss(tmp_path: Path) -> None:
    from tests.support.ports import free_port

    l2 = RedisL2(f"redis://127.0.0.1:{free_port()}/0")
    cache = _tiered(l2)
    await cache.set("result", "k", 1, ttl_s=60, levels="l1+l2")
    cache.l1.clear()
    assert await cache.get("result", "k", levels="l1+l2") == (None, None)
    assert cache.stats()["l2"]["errors"] == 2
    await l2.close()
